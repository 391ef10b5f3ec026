import ArgumentParser
import FTPServerKit
import Foundation
import PasvdHandOff
import Posix
import Logging
import FTPCore
import ProgramSupport

@main
struct PasvdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pasvd",
        abstract: "A small, hardened FTP server for use behind sshd.",
        discussion: """
        Serves DIR over FTP on loopback with passive data ports bound to loopback inside a fixed range.
        Example: pasvd --root /srv/ftp --pasv-ports 40000-40009 --users /etc/pasvd/users
        Add a user: pasvd passwd --users /etc/pasvd/users alice --root /srv/ftp/alice
        All server options: pasvd serve --help
        Version \(ProductVersion.current).
        """,
        version: ProductVersion.current,
        subcommands: [Serve.self, Passwd.self],
        defaultSubcommand: Serve.self
    )
}

extension PasvdCommand {
    /// `pasvd [options]`: run the server.
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "serve", abstract: "Run the FTP server (the default).")

        @Option(help: "Directory served to anonymous users and to users without their own root.")
        var root: String

        @Option(help: "Address of the control listener, IPv4 or IPv6 (loopback unless --allow-remote).")
        var listen: String = ServerConfiguration.defaultListen

        @Option(help: "TCP port of the control listener.")
        var port: Int = ServerConfiguration.defaultPort

        @Option(name: .customLong("pasv-ports"), help: "Passive data ports, LO-HI (inclusive).")
        var pasvPorts: String = ServerConfiguration.defaultPassivePorts

        @Option(name: .customLong("pasv-address"), help: "IPv4 address announced in 227 (PASV) replies.")
        var pasvAddress: String = ServerConfiguration.defaultPassiveAddress

        @Option(help: "Users file: one name:crypthash:root[:account] per line (see `pasvd passwd`).")
        var users: String?

        @Flag(help: "Allow anonymous logins (USER anonymous or ftp, any password), read-only unless --writable.")
        var anonymous = false

        @Flag(help: "Let anonymous users upload, rename, delete and create directories.")
        var writable = false

        @Option(name: .customLong("max-sessions"), help: "Most concurrent logged-in sessions; extra ones get 421.")
        var maxSessions: Int = ServerConfiguration.defaultMaxSessions

        @Option(name: .customLong("max-prelogin"),
                help: "Most connections waiting to log in, apart from --max-sessions (one that sent a command has a login worker process); extra ones get 421 at once.")
        var maxPrelogin: Int = ServerConfiguration.defaultMaxPrelogin

        @Option(name: .customLong("max-prelogin-per-address"),
                help: "Most connections from one client address waiting to log in (default: --max-prelogin; behind sshd every connection comes from sshd's loopback address).")
        var maxPreloginPerAddress: Int?

        @Option(name: .customLong("login-timeout"),
                help: "Seconds from connecting to a successful login, whatever the client sends meanwhile; then 421 and close.")
        var loginTimeout: Double = ServerConfiguration.defaultLoginTimeout

        @Option(name: .customLong("idle-timeout"), help: "Seconds without a command before a session is closed.")
        var idleTimeout: Double = ServerConfiguration.defaultIdleTimeout

        @Option(name: .customLong("data-timeout"),
                help: "Seconds to wait for a passive connection, and for progress on an open one.")
        var dataTimeout: Double = ServerConfiguration.defaultDataTimeout

        @Option(name: .customLong("upload-visibility"),
                help: ArgumentHelp(
                    "When an upload appears under its own name: atomic (once complete; a failed upload leaves the previous file) or immediate (from the first byte, as vsftpd does: a LIST during it shows it, for curlftpfs; a failed upload leaves the bytes that arrived).",
                    discussion: "atomic (the default): an upload is written to an unnamed file and appears only once complete; "
                        + "a LIST during it does not show it, and a failed or cut upload leaves the previous file intact and "
                        + "nothing else (ProFTPD's HiddenStores). immediate: written under its own name from the first byte, "
                        + "as vsftpd and ProFTPD do by default, so a LIST during the upload shows it (curlftpfs needs this); "
                        + "a failed or cut upload leaves the bytes that arrived (STOR: the received prefix; REST+STOR and "
                        + "APPE: the kept part plus them), and one that received no byte leaves an existing file untouched. "
                        + "An existing file is cut only once the upload holds its lock, so uploads to one file take turns.",
                    valueName: "atomic|immediate"))
        var uploadVisibility: String = UploadVisibility.atomic.rawValue

        @Flag(help: "Serve one session on stdin/stdout (inetd, systemd socket activation with Accept=yes): login and session in one process per connection.")
        var inetd = false

        @Flag(name: .customLong("allow-remote"), help: "Allow --listen on a non-loopback address.")
        var allowRemote = false

        @Flag(name: .short, help: "More logging: -v protocol trace (passwords masked), -vv debug.")
        var verbose: Int

        @Option(name: .customLong("log-file"), help: "Append the log to this file instead of stderr.")
        var logFile: String?

        @Option(name: .customLong("anonymous-account"),
                help: "System account anonymous sessions run as when pasvd starts as root (default: ftp, else nobody).")
        var anonymousAccount: String?

        @Option(name: .customLong("login-account"),
                help: "System account that parses each connection before its login when pasvd starts as root (default: nobody).")
        var loginAccount: String?

        @Option(name: .customLong("user-account"),
                help: "System account of users without one in the users file (default: the owner of their root).")
        var userAccount: String?

        @Option(name: .customLong("sessions-per-process"),
                help: "Most logged-in sessions of one account served by one process (1: a process per session).")
        var sessionsPerProcess: Int = ServerConfiguration.defaultSessionsPerProcess

        /// Set by the listener on the per-connection login worker it spawns.
        @Option(name: .customLong("session-id"), help: .hidden)
        var sessionID: Int?

        /// A login worker hands its session to the listener through this descriptor.
        @Option(name: .customLong("hand-off-fd"), help: .hidden)
        var handOffFD: Int32?

        /// The listener sent the greeting of this login worker's connection.
        @Flag(name: .customLong("greeted"), help: .hidden)
        var greeted = false

        /// An account worker, for the account and root below.
        @Flag(name: .customLong("account-worker"), help: .hidden)
        var accountWorker = false

        @Option(name: .customLong("worker-uid"), help: .hidden)
        var workerUID: UInt32?

        @Option(name: .customLong("worker-gid"), help: .hidden)
        var workerGID: UInt32?

        @Option(name: .customLong("worker-root"), help: .hidden)
        var workerRoot: String?

        @Option(name: .customLong("worker-idle-exit"), help: .hidden)
        var workerIdleExit: Double = ServerConfiguration.defaultWorkerIdleExit

        @Option(name: .customLong("login-failure-delay"), help: .hidden)
        var loginFailureDelay: Double = ServerConfiguration.defaultLoginFailureDelay

        @Option(name: .customLong("shutdown-grace"), help: .hidden)
        var shutdownGrace: Double = ServerConfiguration.defaultShutdownGrace

        func validate() throws {
            _ = try makeConfiguration()
        }

        func makeConfiguration() throws -> ServerConfiguration {
            var worker: WorkerIdentity?
            if accountWorker {
                guard let workerUID, let workerGID, let workerRoot, workerRoot.hasPrefix("/") else {
                    throw ValidationError("--account-worker needs --worker-uid, --worker-gid and an absolute --worker-root")
                }
                worker = WorkerIdentity(uid: workerUID, gid: workerGID, root: workerRoot)
            }
            do {
                return try ServerConfiguration(
                    root: root, listen: listen, port: port, passivePorts: pasvPorts, passiveAddress: pasvAddress,
                    usersFile: users, anonymous: anonymous, writable: writable, maxSessions: maxSessions,
                    idleTimeout: idleTimeout, dataTimeout: dataTimeout, inetd: inetd, allowRemote: allowRemote,
                    loginFailureDelay: loginFailureDelay, shutdownGrace: shutdownGrace,
                    anonymousAccount: anonymousAccount, loginAccount: loginAccount, userAccount: userAccount, sessionID: sessionID,
                    sessionsPerProcess: sessionsPerProcess, workerIdleExit: workerIdleExit, handOffFD: handOffFD,
                    accountWorker: worker, maxPrelogin: maxPrelogin, maxPreloginPerAddress: maxPreloginPerAddress,
                    loginTimeout: loginTimeout, greeted: greeted, uploadVisibility: uploadVisibility)
            } catch {
                throw ValidationError(error.description)
            }
        }

        func run() throws {
            let configuration = try makeConfiguration()
            InheritedDescriptors.closeAll(keeping: configuration.handOffFD.map { [$0] } ?? [])
            try LogSetup.bootstrap(label: "pasvd", verbosity: verbose, logFile: logFile)
            var logger = Logger(label: "pasvd")
            if configuration.sessionID != nil || configuration.accountWorker != nil { logger[metadataKey: "pid"] = "\(PosixProcess.currentID)" }
            if let identity = configuration.accountWorker {
                let status = try AccountWorker(configuration: configuration, identity: identity, logger: logger).run()
                throw ExitCode(status)
            }
            let server = try FTPServer(configuration: configuration, logger: logger)
            if configuration.inetd {
                server.serveOneSession()
            } else {
                try server.run()
            }
        }
    }
}
