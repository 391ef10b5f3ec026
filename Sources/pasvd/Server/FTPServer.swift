import FTPServerKit
import Foundation
import Logging
import Posix
import Shared

/// Two roles, as in vsftpd. The listener accepts control connections and hands each to its own worker process
/// (`SessionWorkers`); it opens no file of any user and enforces the session limit and the shutdown sequence.
/// A worker (`--inetd`, or spawned by the listener) serves one session on stdin/stdout and, once logged in,
/// switches to the session's account (`RunAs`) before it touches a file.
final class FTPServer: @unchecked Sendable {
    /// Pending connections the kernel queues for the control listener.
    static let controlBacklog: Int32 = 128
    /// After the grace period, workers get this long to clean up (drop partial uploads) before SIGKILL.
    static let abortCleanupSeconds = 3.0
    /// How often the listener looks for exited workers while no connection arrives.
    static let reapIntervalMilliseconds: Int32 = 500

    let configuration: ServerConfiguration
    private let shutdown = ShutdownSignal()
    private var logger: Logger

    init(configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The listener: serves until SIGTERM/SIGINT, then lets workers finish their transfers within the grace period.
    func run() throws {
        shutdown.installSignalHandlers { [logger] signal in
            logger.notice("signal \(signal): no new sessions, finishing transfers")
        }
        guard let address = SocketAddress(host: configuration.listen, port: configuration.port) else {
            throw PosixError("parse --listen \(configuration.listen)", code: EINVAL)
        }
        let listener = try PosixSocket.bound(to: address, nonBlocking: true)
        defer { close(listener) }
        try PosixSocket.listen(listener, backlog: FTPServer.controlBacklog, on: address)
        logger.notice("listening", metadata: [
            "address": "\(address)", "pasv-ports": "\(configuration.passivePorts)",
            "pasv-address": "\(configuration.passiveAddress)",
        ])
        if !PosixIdentity.isRoot {
            logger.notice("not started as root: sessions run as \(PosixIdentity.account(uid: getuid(), gid: getgid())) without switching accounts")
        }
        let workers = SessionWorkers(arguments: CommandLine.arguments, logger: logger)
        var nextSessionID = 0
        while true {
            var fds = [pollfd(listener, POLLIN), pollfd(shutdown.drainFD, POLLIN)]
            _ = try? PosixPoll.poll(&fds, milliseconds: FTPServer.reapIntervalMilliseconds)
            workers.reap()
            if fds[1].isReadableOrClosed { break }
            guard fds[0].isReadableOrClosed,
                  case .done(let (client, peer))? = try? PosixSocket.accept(listener, nonBlocking: false) else { continue }
            nextSessionID += 1
            admit(client, peer: peer, id: nextSessionID, workers: workers)
            close(client)
        }
        close(listener)
        stopWorkers(workers)
        logger.notice("stopped")
    }

    /// A worker: serves exactly one session on stdin/stdout.
    func serveOneSession() {
        shutdown.installSignalHandlers { _ in }
        PosixSocket.setNoDelay(STDOUT_FILENO)
        PosixSocket.setSendTimeout(STDOUT_FILENO, seconds: configuration.idleTimeout)
        let authenticator: Authenticator
        do {
            authenticator = try Authenticator(usersFile: configuration.usersFile, anonymous: configuration.anonymous,
                                              anonymousWritable: configuration.writable, defaultRoot: configuration.root)
        } catch {
            logger.error("cannot start the session: \(error)")
            return
        }
        let settings = SessionSettings(
            passivePorts: configuration.passivePorts, passiveAddress: configuration.passiveAddress,
            idleTimeout: configuration.idleTimeout, dataTimeout: configuration.dataTimeout,
            loginFailureDelay: configuration.loginFailureDelay)
        let session = Session(
            id: configuration.sessionID ?? 1, settings: settings,
            authority: PasvdAuthority(authenticator: authenticator, configuration: configuration), shutdown: shutdown,
            input: STDIN_FILENO, output: STDOUT_FILENO,
            localHost: PosixSocket.localAddress(STDIN_FILENO)?.host ?? ServerConfiguration.defaultListen,
            peerHost: PosixSocket.peerAddress(STDIN_FILENO)?.host, logger: logger)
        session.run()
    }

    private func admit(_ client: Int32, peer: SocketAddress?, id: Int, workers: SessionWorkers) {
        guard workers.count < configuration.maxSessions else {
            logger.warning("session limit reached, refusing", metadata: ["peer": "\(peer?.description ?? "?")"])
            refuse(client, "Too many sessions (limit \(configuration.maxSessions)); try again later.")
            return
        }
        do {
            try workers.start(id: id, client: client)
        } catch {
            logger.error("cannot start a session worker: \(error)")
            refuse(client, "Cannot start a session now; try again later.")
        }
    }

    /// A 421 on a connection that will not be served (bounded: the socket buffer takes one line).
    private func refuse(_ client: Int32, _ text: String) {
        let wire = Array(Reply(ReplyCode.serviceNotAvailable, text).wire.utf8)
        PosixSocket.setNonBlocking(client)
        _ = wire.withUnsafeBytes { try? PosixSocket.send(client, $0) }
    }

    /// SIGTERM to every worker (idle sessions end, transfers go on), the grace period, then the abort signal
    /// (transfers end, partial uploads dropped), a short clean-up time, and SIGKILL for whatever is left.
    private func stopWorkers(_ workers: SessionWorkers) {
        workers.signalAll(SIGTERM)
        workers.waitForAll(until: Monotonic.now() + configuration.shutdownGrace)
        guard workers.count > 0 else { return }
        logger.warning("grace period over, aborting \(workers.count) session(s)")
        workers.signalAll(ShutdownSignal.abortSignal)
        workers.waitForAll(until: Monotonic.now() + FTPServer.abortCleanupSeconds)
        workers.signalAll(SIGKILL)
        workers.waitForAll(until: Monotonic.now() + FTPServer.abortCleanupSeconds)
    }
}
