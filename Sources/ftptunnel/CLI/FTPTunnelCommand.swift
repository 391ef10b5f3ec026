import ArgumentParser
import Foundation
import ProgramSupport

@main
struct FTPTunnelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ftptunnel",
        abstract: "Carry FTP (control and data connections) through one SSH session.",
        discussion: """
        DEST is a profile name, an ~/.ssh/config Host alias, or [user@]host[:port].
        Bastions: -J [user@]host[:port][,...] (ProxyJump) or ProxyCommand; each hop takes its own Host block of \
        ~/.ssh/config. Match blocks are evaluated like OpenSSH (all, host, originalhost, user, localuser, exec); \
        anything that would change where or as whom ssh connects and that ftptunnel lacks stops with FILE:LINE.
        Profiles live in $XDG_CONFIG_HOME/ftptunnel/profiles/NAME.conf (default ~/.config/ftptunnel/profiles/).
        Mode sftp notes each upload's temporary server file in $XDG_STATE_HOME/ftptunnel/bridge-uploads/ (default
        ~/.local/state/ftptunnel/bridge-uploads/) until it is gone, so one left by a dead SSH session is removed later.
        Version \(ProductVersion.current).
        """,
        version: ProductVersion.current,
        subcommands: [Connect.self, Run.self, Status.self, Stop.self, Check.self, Profiles.self, Show.self]
    )

    /// Usage errors read like every other error of ftptunnel (`Console.errorPrefix`), not ArgumentParser's `Error:`.
    static var _errorPrefix: String { Console.errorPrefix }

    /// ArgumentParser's own run, except that a usage error (which quotes what was typed) reaches the terminal
    /// with its control bytes escaped and exits 2, the status of every bad command line or setting (ArgumentParser
    /// says 64); help and version are left to ArgumentParser.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            guard code != .success, !(error is ExitCode) else { exit(withError: error) }
            StandardError.write(VisibleText.of(fullMessage(for: error), limit: 16384, keepingLineEnds: true) + "\n")
            Foundation.exit(code == .validationFailure ? TunnelExit.usage : code.rawValue)
        }
    }
}
