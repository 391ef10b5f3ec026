import ArgumentParser
import Dispatch
import Foundation
import Logging
import TunnelCore

extension FTPTunnelCommand {
    struct Connect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open the tunnel and forward FTP until interrupted (Ctrl-C).",
            discussion: """
            Prints one ready line with the URL to give your FTP client, then forwards the FTP control port and the \
            passive data ports through one SSH session, printing one line per finished transfer (rewrite mode) or \
            per connection (fixed mode); -v adds connection details. Everything goes to stderr. \
            SIGINT/SIGTERM (or `ftptunnel stop DEST`) close every connection and disconnect; `ftptunnel status DEST` \
            shows the session, connections and transfers in progress.

            \(TunnelHelp.serverAlive)

            Staying up (set with -o or in the profile): when the session is dead or lost, Reconnect yes (the default) \
            keeps every listener and reconnects with backoff \
            (1 s doubling to 30 s); in rewrite mode FTP sessions resume where they were (login, directory, TYPE and a pending REST or RNFR \
            replayed; a transfer cut by the drop gets 426, resume it with REST). The returning server must show the \
            host key verified at start (else exit 3); ReconnectAttempts N gives up after N failed attempts (exit 6); \
            Reconnect no exits with status 6 at once. Fixed-mode control connections are closed on a drop.

            \(TunnelExit.helpText)
            """
        )

        @OptionGroup var options: TunnelOptions

        func run() throws {
            let exit = TunnelLauncher(options: options).runForeground()
            if exit != TunnelExit.ok { throw ExitCode(exit) }
        }
    }
}

/// --help paragraphs shared by `connect` and `run`.
enum TunnelHelp {
    static let serverAlive = """
    Hung servers: with -o ServerAliveInterval=N (default 30; 0 turns it off; OpenSSH's default is 0, but a tunnel \
    left running must notice a server that still acknowledges TCP and no longer answers), after N seconds in which \
    nothing came from the SSH server a keepalive is sent that the server must answer; anything it sends counts as \
    an answer. After -o ServerAliveCountMax=C (default 3) unanswered keepalives and one more silent interval \
    (N × (C + 1) s of silence) the session is dead: "SSH server stopped answering" (then Reconnect applies; with \
    Reconnect no, exit status 6). N below 2 acts as 2 (libssh2's shortest keepalive interval). libssh2 1.10 keeps \
    every keepalive reply until the session ends, so after 768 keepalives the session is replaced as soon as nothing \
    runs on it (idle rewrite-mode FTP sessions resume on the new one); one that stays busy keeps probing up to \
    1024 and then relies on TCP_USER_TIMEOUT until it is idle.
    """
}

/// Exit statuses of `connect` and `run` (listed in --help).
enum TunnelExit {
    static let ok: Int32 = 0
    static let failure: Int32 = 1
    static let usage: Int32 = 2
    static let hostKey: Int32 = 3
    static let authentication: Int32 = 4
    static let localBind: Int32 = 5
    static let connection: Int32 = 6

    static let helpText = """
    Exit status: 0 stopped normally; 1 unexpected failure; 2 bad command line, profile or settings; \
    3 host key unknown, changed or refused; 4 authentication failed; 5 a local port could not be bound; \
    6 cannot reach the SSH server or the session was lost; 128+N interrupted by signal N before the tunnel was ready. `run` exits with the command's status once it has started.
    """

    static func status(for error: Error) -> Int32 {
        switch error {
        case let error as SSHError:
            switch error {
            case .hostKeyUnknown, .hostKeyRejected, .hostKeyFingerprintMismatch, .hostKeyChanged, .hostKeyRevoked,
                 .cannotRecordHostKey, .knownHostsUnreadable: return hostKey
            case .authenticationFailed, .tooManyAuthenticationFailures, .wrongPassphrase, .agentSignatureAlgorithm,
                 .signingFailed: return authentication
            case .noSupportedAlgorithm: return usage
            case .resolveFailed, .connectFailed, .handshakeFailed, .sessionLost, .serverNotAnswering, .keepaliveBudgetSpent,
                 .jumpChannelRefused, .proxyCommandFailed: return connection
            }
        case let error as BastionError:
            return status(for: error.underlying)
        case let error as SessionPoolError:
            switch error {
            case .hostKeyDiffers: return hostKey
            case .credentialRefused: return authentication
            }
        case let error as TunnelError:
            switch error {
            case .bindFailed, .badBindAddress: return localBind
            case .internalFailure, .stoppedBeforeReady: return failure
            }
        default:
            return failure
        }
    }
}

/// Shared by `connect` and `run`: settings, logging, the tunnel, signals and the ready line.
struct TunnelLauncher {
    let options: TunnelOptions

    /// Resolves settings and bootstraps logging; prints the error and returns nil on failure.
    func prepare() -> (tunnel: Tunnel, settings: TunnelSettings)? {
        guard let settings = options.resolveSettingsAndStartLogging() else { return nil }
        return (Tunnel(settings: settings, logger: Logger(label: "ftptunnel")), settings)
    }

    /// `connect`: runs the tunnel on this thread until a signal or a fatal error.
    func runForeground() -> Int32 {
        guard let (tunnel, settings) = prepare() else { return TunnelExit.usage }
        let notifier = ServiceNotifier(environment: ProcessInfo.processInfo.environment, logger: tunnel.logger)
        let control = TunnelControl(name: ControlSocketPath.socketName(for: options.destination), settings: settings,
                                    activity: tunnel.activity) {
            Console.notice("stop requested (ftptunnel stop): closing the tunnel")
            notifier?.stopping()
            tunnel.stop()
        }
        let server: ControlServer?
        do {
            // Before any SSH work: a second tunnel of the same name is refused, not allowed to take the socket.
            server = try ControlServer.claim(ControlSocketPath(destination: options.destination), handler: control.answer,
                                             logger: tunnel.logger)
        } catch let error as ControlSocketError {
            if case .alreadyRunning = error {
                Self.report(error)
                return TunnelExit.usage
            }
            // An unusable directory costs `status` and `stop`, not the tunnel.
            tunnel.logger.warning("\(error); `ftptunnel status` and `stop` will not reach this tunnel")
            server = nil
        } catch {
            tunnel.logger.warning("no control socket (\(error)); `ftptunnel status` and `stop` will not reach this tunnel")
            server = nil
        }
        server?.start()
        defer { server?.close() }
        let signals = SignalWatcher.stopping(tunnel, server: server) { _ in notifier?.stopping() }
        defer { signals.cancel() }
        do {
            try tunnel.run { ready in
                control.markReady(ready)
                Self.printReady(ready, settings: settings, logger: tunnel.logger)
                notifier?.ready(status: "ready: \(ready.url)")
            }
            return TunnelExit.ok
        } catch {
            Self.report(error)
            return TunnelExit.status(for: error)
        }
    }

    /// The ready line (stderr, at most 100 columns for the usual loopback URL); the details follow at -v.
    static func printReady(_ ready: TunnelReady, settings: TunnelSettings, logger: Logger) {
        Console.notice(ReadyLine.summary(ready, mode: settings.mode))
        logger.info("\(ReadyLine.details(ready, settings: settings))")
    }

    static func report(_ error: Error) {
        var text = "\(error)"
        switch error {
        case SSHError.sessionLost, SSHError.serverNotAnswering:
            text += "; the tunnel has stopped (Reconnect no, ReconnectAttempts used up, or a login that cannot be repeated without asking)"
        default:
            break
        }
        Console.error(text)
    }
}

/// The texts of the ready state.
enum ReadyLine {
    /// FileZilla asks about "insecure FTP" because the tunnel answers AUTH TLS itself (534, or 502 in mode sftp).
    static let fileZillaHint = "FileZilla: Encryption \"Only use plain FTP\""

    /// `ftptunnel: ready — ftp://127.0.0.1:2121, mode rewrite (FileZilla: Encryption "Only use plain FTP")`.
    static func summary(_ ready: TunnelReady, mode: TunnelSettings.Mode) -> String {
        switch mode {
        case .sftp: return "ready — \(ready.url), mode sftp, any user, no password (FileZilla: plain FTP)"
        case .rewrite: return "ready — \(ready.url), mode rewrite (\(fileZillaHint))"
        case .fixed:
            return "ready — \(ready.url), mode fixed, passive only"
                + (ready.passivePorts.map { ", data ports \($0.lower)-\($0.upper)" } ?? ", control connection only")
        }
    }

    /// The second line (-v): where the tunnel leads and how.
    static func details(_ ready: TunnelReady, settings: TunnelSettings) -> String {
        let everywhere = ready.listensEverywhere ? "listening on all addresses (other hosts use this machine's address); " : ""
        if let root = ready.sftpRoot {
            return everywhere + "serving \(settings.user)@\(settings.sshHost):\(settings.sshPort):\(root) over SFTP; "
                + "only your own local user may connect"
        }
        let range = ready.passivePorts.map { "\($0.lower)-\($0.upper)" }
        let ports = ready.onDemand
            ? "data channels opened on demand" + (range.map { " (local ports \($0))" } ?? "")
            : range.map { "data ports \($0) forwarded" } ?? "control connection only (no PassivePorts)"
        let tls = ready.onDemand
            ? "; AUTH TLS is answered 534 by the tunnel: every byte already travels inside SSH, so plain FTP is safe here"
            : ""
        return everywhere + "forwarding via \(settings.user)@\(settings.sshHost):\(settings.sshPort) to "
            + "\(settings.ftpHost):\(settings.ftpPort), \(ports)\(tls)"
    }
}
