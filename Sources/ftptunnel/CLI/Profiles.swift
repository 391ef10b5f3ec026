import ArgumentParser
import Foundation
import TunnelCore

extension FTPTunnelCommand {
    /// `ftptunnel profiles`: one line per profile; a broken profile is reported and the listing goes on.
    struct Profiles: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the profiles with their SSH and FTP endpoints, mode and passive ports.",
            discussion: """
            Profiles are $XDG_CONFIG_HOME/ftptunnel/profiles/NAME.conf (default ~/.config/ftptunnel/profiles/),
            merged with ~/.ssh/config as `connect NAME` would. Exits 1 if any profile has an error.
            """
        )

        func run() throws {
            let resolver = SettingsResolver()
            let store = resolver.profileStore
            let names = store.names()
            guard !names.isEmpty else {
                print("No profiles in \(resolver.displayPath(store.directory)) — create NAME.conf there "
                      + "(examples: profiles/ in the ftptunnel sources).")
                return
            }
            var rows = [["NAME", "SSH", "FTP (from the SSH server)", "MODE", "PASSIVE PORTS"]]
            var failures: [String] = []
            for name in names {
                var overrides = SettingOverrides()
                overrides.profilePath = store.path(forName: name)
                do {
                    guard ProfileStore.isValidName(name) else {
                        throw ValidationError("\(resolver.displayPath(store.path(forName: name))): '\(name)' is not a "
                                              + "usable profile name — rename the file using letters, digits, '.', '_' and '-'")
                    }
                    let s = try resolver.resolve(destination: name, overrides: overrides).settings
                    rows.append([name, "\(s.user)@\(hostPort(s.sshHost, s.sshPort))", hostPort(s.ftpHost, s.ftpPort),
                                 s.mode.rawValue, s.passivePorts?.description ?? "any"])
                } catch {
                    rows.append([name, "error (see below)", "", "", ""])
                    failures.append("\(error)")
                }
            }
            let widths = (0..<rows[0].count).map { column in rows.map { $0[column].count }.max() ?? 0 }
            for row in rows {
                let line = zip(row, widths).map { $0.padded(to: $1) }.joined(separator: "  ")
                print(String(line.reversed().drop(while: { $0 == " " }).reversed()))
            }
            for failure in failures { Console.error("\(failure)") }
            if !failures.isEmpty { throw ExitCode.failure }
        }

        private func hostPort(_ host: String, _ port: Int) -> String {
            host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}

extension String {
    fileprivate func padded(to width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
