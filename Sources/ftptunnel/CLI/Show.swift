import ArgumentParser
import ProgramSupport
import TunnelCore

extension FTPTunnelCommand {
    /// `ftptunnel show DEST`: the fully resolved settings, one keyword per line with its source.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the settings `connect DEST` would use and where each one comes from.",
            discussion: """
            The output is itself a valid profile: one `Keyword value` per line, its source after `#` \
            (command line, -o, PROFILE:LINE, ~/.ssh/config:LINE or default). Lines starting with `#` are \
            settings left unset; the default behaviour is described instead. The identities that would be \
            offered follow as comments, in order, each with where it came from (certificates, ssh-agent, \
            identity files); nothing is decrypted and no passphrase is asked. A bad profile or option is \
            reported as `connect` reports it, exit status 2.

            Keywords: \(ProfileKeyword.allCases.map(\.rawValue).joined(separator: ", ")).
            """
        )

        @OptionGroup var options: TunnelOptions

        /// A bad profile or option is reported as `connect` reports it, with the same exit status (2).
        func run() throws {
            let resolved: ResolvedSettings
            do {
                resolved = try SettingsResolver().resolve(destination: options.destination, overrides: options.overrides)
            } catch {
                TunnelLauncher.report(error)
                throw ExitCode(TunnelExit.usage)
            }
            print(SettingsReport(resolved, destination: options.destination).text, terminator: "")
            print(IdentityReport(settings: resolved.settings).text, terminator: "")
        }
    }
}

/// The text `ftptunnel show` prints.
struct SettingsReport {
    let resolved: ResolvedSettings
    let destination: String

    init(_ resolved: ResolvedSettings, destination: String) {
        self.resolved = resolved
        self.destination = destination
    }

    var text: String {
        let resolver = SettingsResolver()
        var lines = ["# ftptunnel show \(destination)"]
        lines.append("# profile: \(resolved.profilePath.map { resolver.displayPath($0) } ?? "none")")
        lines.append("# ~/.ssh/config matched against: \(resolved.hostAlias)")
        // Values and sources come from files and the command line: control bytes are shown as escapes.
        lines.append("# path: " + VisibleText.of(SettingsReport.path(resolved.settings), limit: 4096))
        lines += resolved.hopLines.map { "# " + VisibleText.of($0, limit: 4096) }
        let rows = resolved.entries.map { entry in
            entry.value.map { (entry.keyword, VisibleText.of($0, limit: 4096)) } ?? ("#\(entry.keyword)", "(not set)")
        }
        let keywordWidth = rows.map(\.0.count).max() ?? 0
        let valueWidth = min(rows.map(\.1.count).max() ?? 0, SettingsReport.maxValueWidth)
        for (row, entry) in zip(rows, resolved.entries) {
            lines.append(row.0.padded(to: keywordWidth) + "  " + row.1.padded(to: valueWidth) + "  # " + VisibleText.of(entry.source))
        }
        lines += resolved.notes.map { "# note: \($0)" }
        return lines.joined(separator: "\n") + "\n"
    }

    static let maxValueWidth = 40

    /// The hop chain in one line: `ftptunnel → bastion (ProxyCommand …) → … → destination`.
    static func path(_ settings: TunnelSettings) -> String {
        var steps = ["ftptunnel"]
        if let command = (settings.jumpHosts.first ?? settings).proxyCommand { steps.append("ProxyCommand \(command)") }
        steps += settings.jumpHosts.map(\.sshEndpoint)
        steps.append(settings.sshEndpoint)
        return steps.joined(separator: " → ")
    }
}

extension String {
    fileprivate func padded(to width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
