import ArgumentParser
import Logging
import ProgramSupport
import TunnelCore

/// Options shared by `connect`, `run`, `check` and `show`: everything that can override a profile.
struct TunnelOptions: ParsableArguments {
    @Argument(help: "Profile name, ~/.ssh/config Host alias, or [user@]host[:port].",
              completion: .custom(ProfileCompletion.candidates))
    var destination: String

    @Option(name: .customLong("profile"), help: "Read the site from this profile file.")
    var profile: String?

    @Option(name: .customShort("l"), help: ArgumentHelp("SSH user name.", valueName: "user"))
    var user: String?

    @Option(name: .customShort("p"), help: ArgumentHelp("SSH port.", valueName: "port"))
    var port: Int?

    @Option(name: .customShort("i"), help: ArgumentHelp("Identity (private key) file: ed25519, ECDSA or RSA, OpenSSH or PEM format; repeatable. FILE-cert.pub beside it is offered first.", valueName: "file"))
    var identity: [String] = []

    @Option(name: .customLong("ftp-host"), help: "FTP server as seen from the SSH server (default 127.0.0.1).")
    var ftpHost: String?

    @Option(name: .customLong("ftp-port"), help: "FTP control port on FTP host (default 21).")
    var ftpPort: Int?

    @Option(name: .customLong("local-port"), help: "Local control port (default 21 if it can be bound, else 2121).")
    var localPort: Int?

    @Option(name: .customLong("passive-ports"), help: ArgumentHelp("Passive data port range (fixed mode: forwarded up front; rewrite mode: where on-demand listeners bind).", valueName: "LO-HI"))
    var passivePorts: String?

    @Option(name: .customLong("mode"), help: "rewrite (default) or fixed: forward to an FTP server; sftp: no FTP server needed, ftptunnel serves FTP itself over the host's SFTP.")
    var mode: String?

    @Option(name: .customLong("sftp-root"), help: ArgumentHelp("Mode sftp: the remote directory FTP clients see as / (default: the login directory).", valueName: "PATH"))
    var sftpRoot: String?

    @Option(name: .customLong("known-hosts"), help: "known_hosts file to check and update.")
    var knownHosts: String?

    @Option(name: .customShort("J"), help: ArgumentHelp("Bastions to jump through, nearest first (ProxyJump): [user@]host[:port], comma-separated, or none.", valueName: "hops"))
    var jump: String?

    @Option(name: .customShort("o"), help: ArgumentHelp("Any profile or ssh_config keyword, e.g. -o DataWindow=32M.", valueName: "Keyword=Value"))
    var options: [String] = []

    @Flag(name: .customShort("v"), help: "More detail on stderr; repeat for protocol traces.")
    var verbose: Int

    @Option(name: .customLong("log-file"), help: "Append log lines to this file instead of stderr.")
    var logFile: String?

    var overrides: SettingOverrides {
        var o = SettingOverrides()
        o.profilePath = profile
        o.user = user
        o.port = port
        o.identityFiles = identity
        o.ftpHost = ftpHost
        o.ftpPort = ftpPort
        o.localPort = localPort
        o.passivePorts = passivePorts
        o.mode = mode
        o.sftpRoot = sftpRoot
        o.knownHostsFile = knownHosts
        o.proxyJump = jump
        o.options = options
        return o
    }
}

extension TunnelOptions {
    /// Resolves the site's settings and bootstraps logging (logging the resolver's notes at -v).
    /// Prints the one-sentence error and returns nil when the command line, a profile or the log file is wrong.
    func resolveSettingsAndStartLogging() -> TunnelSettings? {
        do {
            let resolved = try SettingsResolver().resolve(destination: destination, overrides: overrides)
            try LogSetup.bootstrap(label: "ftptunnel", verbosity: verbose, logFile: logFile, style: .plain)
            let logger = Logger(label: "ftptunnel")
            for note in resolved.notes { logger.info("\(note)") }
            return resolved.settings
        } catch {
            TunnelLauncher.report(error)
            return nil
        }
    }
}
