import ArgumentParser
import Foundation
import Posix

extension FTPTunnelCommand {
    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a running tunnel: its SSH session(s), client connections and transfers in progress.",
            discussion: """
            Asks the tunnel's control socket ($XDG_RUNTIME_DIR/ftptunnel/NAME.sock, or /tmp/ftptunnel-UID/ without \
            XDG_RUNTIME_DIR; only the user who started the tunnel may ask). Without DEST, every running tunnel is \
            shown. Transfers show bytes and rate, and a percentage and ETA when the size was announced (SIZE, or \
            the 150 reply). Exit status 1 when no tunnel is running, or when the control directory (under \
            XDG_RUNTIME_DIR) belongs to another user or is open to others, which is then said.
            """
        )

        @Argument(help: "The name the tunnel was started with (`ftptunnel connect DEST`); default: every running tunnel.")
        var destination: String?

        @Flag(name: .shortAndLong, help: "Refresh the report until Ctrl-C, like watch(1).")
        var watch = false

        @Option(name: [.customShort("n"), .long], help: ArgumentHelp("Seconds between refreshes with --watch (0.5 to 60).", valueName: "seconds"))
        var interval: Double = 2

        func validate() throws {
            guard (0.5...60).contains(interval) else { throw ValidationError("--interval \(interval) is out of range: give 0.5 to 60 seconds") }
        }

        func run() throws {
            guard watch else {
                let (text, any) = report()
                FileHandle.standardOutput.write(Data(text.utf8))
                if !any { throw ExitCode.failure }
                return
            }
            let signals = SignalWatcher { _ in
                StandardOutputLine.finish()
                Foundation.exit(0)
            }
            defer { signals.cancel() }
            let clear = PosixTerminal.isTerminal(1) ? "\u{1B}[H\u{1B}[2J" : ""
            while true {
                let (text, _) = report()
                let stamp = "every \(interval) s: ftptunnel status\(destination.map { " \($0)" } ?? "")  \(Self.clock())\n\n"
                FileHandle.standardOutput.write(Data((clear + stamp + text).utf8))
                Thread.sleep(forTimeInterval: interval)
            }
        }

        /// The reports of the tunnels asked for; errors go to stderr. `any`: at least one tunnel answered.
        private func report() -> (text: String, any: Bool) {
            let directory = ControlSocketPath.directory()
            if destination == nil {
                do { try ControlSocketPath(directory: directory, name: "_").checkBeforeListing() } catch {
                    Console.error("\(error)")
                    return ("", false)
                }
            }
            let names = destination.map { [ControlSocketPath.socketName(for: $0)] }
                ?? ControlSocketPath(destination: "_").socketNames()
            var parts: [String] = []
            for name in names {
                let location = ControlSocketPath(directory: directory, name: name)
                do {
                    parts.append(try ControlClient.ask(location, "status"))
                } catch ControlSocketError.notRunning(let name, let path) where destination == nil {
                    _ = (name, path)  // a stale socket from a killed tunnel: not a running tunnel
                } catch {
                    Console.error("\(error)")
                }
            }
            if parts.isEmpty, destination == nil {
                Console.error("no tunnel is running (no control socket answers in \(directory)); start one with `ftptunnel connect DEST`")
            }
            return (parts.joined(separator: "\n"), !parts.isEmpty)
        }

        static func clock() -> String {
            var seconds = time(nil)
            var parts = tm()
            localtime_r(&seconds, &parts)
            return String(format: "%02d:%02d:%02d", parts.tm_hour, parts.tm_min, parts.tm_sec)
        }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask a running tunnel to close cleanly (like ssh -O exit).",
            discussion: """
            The tunnel stops accepting, closes its connections and disconnects; `ftptunnel connect` then exits 0 \
            (`run` ends its command as on SIGTERM). Exit status 1 when no such tunnel is running.
            """
        )

        @Argument(help: "The name the tunnel was started with (`ftptunnel connect DEST`).")
        var destination: String

        static let waitForExit: TimeInterval = 15

        func run() throws {
            let location = ControlSocketPath(destination: destination)
            do {
                _ = try ControlClient.ask(location, "stop")
            } catch {
                Console.error("\(error)")
                throw ExitCode.failure
            }
            // The tunnel removes its socket once it has closed everything.
            let end = Date().addingTimeInterval(Self.waitForExit)
            while Date() < end {
                if (try? PosixLocalSocketProbe.exists(location.path)) != true {
                    Console.notice("\(location.name) stopped")
                    return
                }
                Thread.sleep(forTimeInterval: 0.1)
            }
            Console.notice("asked \(location.name) to stop; it is still closing its connections after \(Int(Self.waitForExit)) s")
        }
    }
}

/// --watch ends on Ctrl-C with the cursor on a fresh line.
enum StandardOutputLine {
    static func finish() { FileHandle.standardOutput.write(Data("\n".utf8)) }
}
