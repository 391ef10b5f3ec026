import ArgumentParser
import Shared

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
        Version \(ProductVersion.current).
        """,
        version: ProductVersion.current,
        subcommands: [Connect.self, Run.self, Status.self, Stop.self, Check.self, Profiles.self, Show.self]
    )

    /// Usage errors read like every other error of ftptunnel (`Console.errorPrefix`), not ArgumentParser's `Error:`.
    static var _errorPrefix: String { Console.errorPrefix }
}
