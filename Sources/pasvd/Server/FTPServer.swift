import Foundation
import Logging
import Shared

/// Accepts control connections and runs one thread per session (blocking I/O with poll(2); transfers use
/// sendfile(2)). Idle sessions cost one small thread stack and a 4 KiB read buffer each.
final class FTPServer: @unchecked Sendable {
    /// Stack size of session threads: enough for the handlers, small so that idle sessions stay cheap.
    static let threadStackSize = 512 * 1024
    /// After the grace period, sessions get this long to clean up (remove partial uploads) before exit.
    static let abortCleanupSeconds = 3.0

    let context: ServerContext
    private let logger: Logger
    private let lock = NSLock()
    private var activeSessions = 0
    private var nextSessionID = 0

    init(configuration: ServerConfiguration, logger: Logger) throws {
        let authenticator = try Authenticator(
            usersFile: configuration.usersFile, anonymous: configuration.anonymous,
            anonymousWritable: configuration.writable, defaultRoot: configuration.root)
        context = ServerContext(configuration: configuration, authenticator: authenticator,
                                shutdown: ShutdownSignal(), passivePorts: PassivePorts(range: configuration.passivePorts))
        self.logger = logger
    }

    /// Listens and serves until SIGTERM/SIGINT, then lets transfers finish within the grace period.
    func run() throws {
        let configuration = context.configuration
        context.shutdown.installSignalHandlers { [logger] signal in
            logger.notice("signal \(signal): no new sessions, finishing transfers")
        }
        let listener = try Socket.listen(on: configuration.listen, port: configuration.port,
                                         backlog: Socket.controlBacklog)
        logger.notice("listening", metadata: [
            "address": "\(configuration.listen):\(configuration.port)",
            "pasv-ports": "\(configuration.passivePorts)", "pasv-address": "\(configuration.passiveAddress)",
        ])
        while true {
            var fds = [pollfd(listener, POLLIN), pollfd(context.shutdown.drainFD, POLLIN)]
            guard Socket.poll(&fds, milliseconds: -1) >= 0 else { continue }
            if fds[1].isReadableOrClosed { break }
            guard fds[0].isReadableOrClosed, let client = Socket.accept(listener) else { continue }
            admit(client)
        }
        close(listener)
        waitForSessions()
        logger.notice("stopped")
    }

    /// Serves exactly one session on stdin/stdout.
    func serveInetd() {
        context.shutdown.installSignalHandlers { _ in }
        Socket.configureControl(STDOUT_FILENO, sendTimeout: context.configuration.idleTimeout)
        let local = Socket.localEndpoint(STDIN_FILENO)
        let session = Session(
            id: 1, context: context, control: ControlChannel(input: STDIN_FILENO, output: STDOUT_FILENO),
            localHost: local?.host ?? ServerConfiguration.defaultListen,
            peerHost: Socket.peerEndpoint(STDIN_FILENO)?.host, logger: logger)
        session.run()
    }

    private func admit(_ client: Int32) {
        let peer = Socket.peerEndpoint(client)
        let (accepted, id) = lock.withLock { () -> (Bool, Int) in
            nextSessionID += 1
            guard activeSessions < context.configuration.maxSessions else { return (false, nextSessionID) }
            activeSessions += 1
            return (true, nextSessionID)
        }
        guard accepted else {
            logger.warning("session limit reached, refusing", metadata: ["peer": "\(peer?.description ?? "?")"])
            Socket.writeAll(client, Array(Reply(ReplyCode.serviceNotAvailable,
                                                "Too many sessions (limit \(context.configuration.maxSessions)); try again later.").wire.utf8))
            close(client)
            return
        }
        Socket.configureControl(client, sendTimeout: context.configuration.idleTimeout)
        let local = Socket.localEndpoint(client)
        let session = Session(id: id, context: context, control: ControlChannel(input: client, output: client),
                              localHost: local?.host ?? context.configuration.listen, peerHost: peer?.host,
                              logger: logger)
        let thread = Thread { [self] in
            session.run()
            close(client)
            lock.withLock { activeSessions -= 1 }
        }
        thread.stackSize = FTPServer.threadStackSize
        thread.start()
    }

    private var sessionCount: Int { lock.withLock { activeSessions } }

    /// Waits for sessions to end: the grace period for transfers, then an abort and a short clean-up time.
    private func waitForSessions() {
        let graceEnd = Monotonic.now() + context.configuration.shutdownGrace
        while sessionCount > 0, Monotonic.now() < graceEnd { usleep(20_000) }
        guard sessionCount > 0 else { return }
        logger.warning("grace period over, aborting \(sessionCount) session(s)")
        context.shutdown.abort()
        let cleanupEnd = Monotonic.now() + FTPServer.abortCleanupSeconds
        while sessionCount > 0, Monotonic.now() < cleanupEnd { usleep(20_000) }
    }
}

/// What every session shares: settings, authentication, shutdown signal, passive port allocation.
struct ServerContext: Sendable {
    let configuration: ServerConfiguration
    let authenticator: Authenticator
    let shutdown: ShutdownSignal
    let passivePorts: PassivePorts
}
