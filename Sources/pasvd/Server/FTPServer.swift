import FTPServerKit
import Foundation
import Logging
import PasvdHandOff
import Posix
import FTPCore

/// Three roles, as in vsftpd, all of them this binary. The listener accepts control connections, greets and holds
/// each until its client sends something (`GreetedConnections`), then starts a short-lived login worker for it
/// (`LoginWorkers`); it opens no file of any user, parses nothing a client sends, and enforces the limits (logged-in
/// sessions, connections waiting to log in) and the shutdown sequence. A login worker serves the connection until the login
/// succeeds and hands the session back to the listener, which passes it on to an account worker
/// (`AccountWorkers`, `AccountWorker`): one process per system account and root, switched to that account before
/// it receives any session, serving up to `--sessions-per-process` sessions on threads. `--inetd` serves one whole
/// session in one process and, once logged in, switches to the session's account (`RunAs`) before it touches a file.
final class FTPServer: @unchecked Sendable {
    /// Pending connections the kernel queues for the control listener.
    static let controlBacklog: Int32 = 128
    /// After the grace period, workers get this long to clean up (drop partial uploads) before SIGKILL.
    static let abortCleanupSeconds = 3.0
    /// How often the listener looks for exited workers while nothing else happens.
    static let reapIntervalMilliseconds: Int32 = 500
    /// A login worker's hand-off that the listener does not take in this time fails (the client gets 421).
    static let handOffSendSeconds = 5.0

    let configuration: ServerConfiguration
    private let shutdown: ShutdownSignal
    private var logger: Logger

    init(configuration: ServerConfiguration, logger: Logger) throws(PosixError) {
        self.configuration = configuration
        shutdown = try ShutdownSignal()
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
        // Closed once, when the loop ends (new connections are refused while the workers drain); a defer closing
        // it again at the end would close whatever descriptor reused its number meanwhile.
        let listener = try PosixSocket.bound(to: address, nonBlocking: true)
        do { try PosixSocket.listen(listener, backlog: FTPServer.controlBacklog, on: address) } catch {
            PosixDescriptor.close(listener)
            throw error
        }
        logger.notice("listening", metadata: [
            "address": "\(address)", "pasv-ports": "\(configuration.passivePorts)",
            "pasv-address": "\(configuration.passiveAddress)",
            "sessions-per-process": "\(configuration.sessionsPerProcess)",
        ])
        if !PosixIdentity.isRoot {
            logger.notice("not started as root: sessions run as \(PosixIdentity.account(uid: PosixIdentity.userID, gid: PosixIdentity.groupID)) without switching accounts")
        }
        let mapping = AccountMapping(configuration: configuration)
        for problem in mapping.misconfiguredUsers() { logger.error("\(problem); that user's logins get 530") }
        let launcher = WorkerLauncher(arguments: CommandLine.arguments)
        let logins = LoginWorkers(launcher: launcher, mapping: mapping, logger: logger)
        let greeted = GreetedConnections(loginTimeout: configuration.loginTimeout)
        let accounts = AccountWorkers(launcher: launcher, sessionsPerProcess: configuration.sessionsPerProcess,
                                      idleExitSeconds: configuration.workerIdleExit, logger: logger)
        var nextSessionID = 0
        while true {
            let loginChannels = logins.channels, accountChannels = accounts.channels, waiting = greeted.descriptors
            var fds = [pollfd(listener, POLLIN), pollfd(shutdown.drainFD, POLLIN)]
                + loginChannels.map { pollfd($0.fd, POLLIN) } + accountChannels.map { pollfd($0.fd, POLLIN) }
                + waiting.map { pollfd(fd: $0, events: Int16(POLLIN) | PosixPoll.readHangUp, revents: 0) }
            let due = min(accounts.nextDeadline, logins.nextDeadline, greeted.nextDeadline)
            let wait = min(FTPServer.reapIntervalMilliseconds, Monotonic.milliseconds(until: due))
            _ = try? PosixPoll.poll(&fds, milliseconds: wait)
            if fds[1].isReadableOrClosed { break }
            for (index, entry) in loginChannels.enumerated() where fds[2 + index].revents != 0 {
                if let (handOff, client) = logins.receive(from: entry.pid) { route(handOff, client: client, accounts) }
            }
            for (index, entry) in accountChannels.enumerated() where fds[2 + loginChannels.count + index].revents != 0 {
                accounts.service(entry.pid)
            }
            let waitingBase = 2 + loginChannels.count + accountChannels.count
            for (index, client) in waiting.enumerated() where fds[waitingBase + index].revents != 0 {
                startLoginWorker(client, revents: fds[waitingBase + index].revents, greeted: greeted, logins: logins)
            }
            reap(logins, accounts) { self.route($0, client: $1, accounts) }
            accounts.expire(now: Monotonic.now())
            logins.expire(now: Monotonic.now())
            greeted.expire(now: Monotonic.now())
            guard fds[0].isReadableOrClosed,
                  case .done(let (client, peer))? = try? PosixSocket.accept(listener, nonBlocking: false) else { continue }
            nextSessionID += 1
            if !admit(client, peer: peer, id: nextSessionID, sessions: accounts.sessionCount, logins: logins, greeted: greeted) {
                PosixDescriptor.close(client)
            }
        }
        PosixDescriptor.close(listener)
        greeted.closeAll("Server shutting down.")
        stopWorkers(logins, accounts)
        logger.notice("stopped")
    }

    /// A worker: serves one session on stdin/stdout (`--inetd`), or its login phase only (`--hand-off-fd`).
    func serveOneSession() {
        shutdown.installSignalHandlers { _ in }
        PosixSocket.setNoDelay(STDOUT_FILENO)
        PosixSocket.setSendTimeout(STDOUT_FILENO, seconds: configuration.idleTimeout)
        let handOffFD = configuration.handOffFD
        let authenticator: Authenticator
        do {
            authenticator = try Authenticator(usersFile: configuration.usersFile, anonymous: configuration.anonymous,
                                              anonymousWritable: configuration.writable, defaultRoot: configuration.root,
                                              preloaded: handOffFD != nil)
        } catch {
            logger.error("cannot start the session: \(error)")
            return
        }
        if handOffFD != nil {
            do {
                if let account = try LoginConfinement.enter(configuration) {
                    logger.debug("login worker runs as \(account) in an empty root")
                }
            } catch {
                logger.error("\(error)")
                FTPServer.refuse(STDOUT_FILENO, "Cannot start a session now; try again later.")
                return
            }
        }
        let session = Session(
            id: configuration.sessionID ?? 1, settings: configuration.sessionSettings,
            authority: PasvdAuthority(authenticator: authenticator, configuration: configuration, handsOver: handOffFD != nil),
            shutdown: shutdown, input: STDIN_FILENO, output: STDOUT_FILENO,
            localHost: PosixSocket.localAddress(STDIN_FILENO)?.host ?? ServerConfiguration.defaultListen,
            peerHost: PosixSocket.peerAddress(STDIN_FILENO)?.host, logger: logger, mayHandOver: handOffFD != nil,
            greeted: configuration.greeted)
        session.run()
        guard let handOffFD, let handedOver = session.handedOver,
              let login = handedOver.ticket as? AuthenticatedLogin else { return }
        // uid, gid, root and writable are this worker's view only: the listener replaces them (`AccountMapping`).
        let handOff = SessionHandOff(sessionID: configuration.sessionID ?? 1, user: login.account.name,
                                     isAnonymous: login.account.isAnonymous, writable: login.account.writable,
                                     worker: WorkerIdentity(uid: PosixIdentity.userID, gid: PosixIdentity.groupID, root: login.account.root),
                                     state: handedOver.state)
        PosixSocket.setSendTimeout(handOffFD, seconds: FTPServer.handOffSendSeconds)
        do {
            _ = try DescriptorChannel.send(handOffFD, HandOffMessage.session(handOff).encoded(), passing: STDIN_FILENO,
                                           nonBlocking: false)
        } catch {
            logger.error("cannot hand the session to the listener: \(error)")
            FTPServer.refuse(STDOUT_FILENO, "Cannot start the session; try again later.")
        }
    }

    /// Greets a new connection and holds it until its first command (true: the connection is held, the caller
    /// keeps it open), or answers 421 at once when the logged-in sessions are at `--max-sessions` or the
    /// connections waiting to log in (held or with a login worker) at their bounds.
    private func admit(_ client: Int32, peer: SocketAddress?, id: Int, sessions: Int, logins: LoginWorkers,
                       greeted: GreetedConnections) -> Bool {
        let peerHost = peer?.host ?? ""
        guard sessions < configuration.maxSessions else {
            logger.warning("session limit reached, refusing", metadata: ["peer": "\(peer?.description ?? "?")"])
            FTPServer.refuse(client, "Too many sessions (limit \(configuration.maxSessions)); try again later.")
            return false
        }
        guard logins.count + greeted.count < configuration.maxPrelogin else {
            logger.warning("limit of connections waiting to log in reached, refusing", metadata: ["peer": "\(peer?.description ?? "?")"])
            FTPServer.refuse(client, "Too many connections waiting to log in (limit \(configuration.maxPrelogin)); try again later.")
            return false
        }
        guard logins.count(from: peerHost) + greeted.count(from: peerHost) < configuration.maxPreloginPerAddress else {
            logger.warning("limit of connections waiting to log in from one address reached, refusing",
                           metadata: ["peer": "\(peer?.description ?? "?")"])
            FTPServer.refuse(client, "Too many connections from your address waiting to log in "
                             + "(limit \(configuration.maxPreloginPerAddress)); try again later.")
            return false
        }
        return greeted.hold(client, sessionID: id, peer: peerHost,
                            greeting: Reply(ReplyCode.serviceReady, Session.greeting(configuration.sessionSettings)))
    }

    /// A held connection's client sent its first bytes (or closed): a login worker takes it over with the bytes
    /// unread (looked at with MSG_PEEK only) and the rest of the login deadline; a connection closed without a
    /// byte is just closed.
    private func startLoginWorker(_ client: Int32, revents: Int16, greeted: GreetedConnections, logins: LoginWorkers) {
        guard let entry = greeted.release(client) else { return }
        defer { PosixDescriptor.close(client) }
        var byte: UInt8 = 0
        guard revents & Int16(POLLIN) != 0,
              case .done(let waiting)? = withUnsafeMutableBytes(of: &byte, { try? PosixSocket.peek(client, into: $0) }),
              waiting > 0 else { return }
        do {
            try logins.start(id: entry.sessionID, client: client, peer: entry.peer, loginSeconds: entry.deadline - Monotonic.now())
        } catch {
            logger.error("cannot start a login worker: \(error)")
            FTPServer.refuse(client, "Cannot start a session now; try again later.")
        }
    }

    /// A logged-in session goes to its account worker, unless the logged-in sessions are at `--max-sessions`
    /// (pre-login connections are not counted there, so the check is repeated at the hand-off).
    private func route(_ handOff: SessionHandOff, client: Int32, _ accounts: AccountWorkers) {
        guard accounts.sessionCount < configuration.maxSessions else {
            logger.warning("session limit reached at login, refusing", metadata: ["session": "\(handOff.sessionID)"])
            FTPServer.refuse(client, "Too many sessions (limit \(configuration.maxSessions)); try again later.")
            PosixDescriptor.close(client)
            return
        }
        accounts.route(handOff, client: client)
    }

    /// Collects every exited worker. A login worker's last message is taken first: a hand-off it sent just
    /// before exiting goes to `route`.
    private func reap(_ logins: LoginWorkers, _ accounts: AccountWorkers, route: (SessionHandOff, Int32) -> Void) {
        while let (pid, status) = PosixProcess.reapAny() {
            let login = logins.reaped(pid, status: status)
            if login.ours {
                if let (handOff, client) = login.lastHandOff { route(handOff, client) }
            } else {
                _ = accounts.reaped(pid, status: status)
            }
        }
    }

    /// A 421 on a connection that will not be served (bounded: the socket buffer takes one line; the socket's
    /// blocking mode, shared with any worker holding it, is left alone).
    static func refuse(_ client: Int32, _ text: String, code: Int = ReplyCode.serviceNotAvailable) {
        let wire = Array(Reply(code, text).wire.utf8)
        _ = wire.withUnsafeBytes { try? PosixSocket.sendNow(client, $0) }
    }

    /// No more hand-offs; SIGTERM to every worker (idle sessions end, transfers go on), the grace period, then the
    /// abort signal (transfers end, partial uploads dropped), a short clean-up time, and SIGKILL for what is left.
    private func stopWorkers(_ logins: LoginWorkers, _ accounts: AccountWorkers) {
        accounts.retireAll(reason: "Server shutting down.")
        let refuseLate: (SessionHandOff, Int32) -> Void = { _, client in
            FTPServer.refuse(client, "Server shutting down.")
            PosixDescriptor.close(client)
        }
        let pids = { logins.pids + accounts.pids }
        let signalAll = { (signal: Int32) in for pid in pids() { PosixProcess.signal(pid, signal) } }
        let waitForAll = { (deadline: Double) in
            self.reap(logins, accounts, route: refuseLate)
            while !pids().isEmpty, Monotonic.now() < deadline {
                PosixClock.pause(seconds: 0.02)
                self.reap(logins, accounts, route: refuseLate)
            }
        }
        signalAll(SIGTERM)
        waitForAll(Monotonic.now() + configuration.shutdownGrace)
        guard !pids().isEmpty else { return }
        logger.warning("grace period over, aborting the sessions of \(pids().count) worker(s)")
        signalAll(ShutdownSignal.abortSignal)
        waitForAll(Monotonic.now() + FTPServer.abortCleanupSeconds)
        signalAll(SIGKILL)
        waitForAll(Monotonic.now() + FTPServer.abortCleanupSeconds)
    }
}
