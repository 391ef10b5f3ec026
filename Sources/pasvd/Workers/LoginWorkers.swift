import FTPServerKit
import Foundation
import Logging
import PasvdHandOff
import Posix
import FTPCore

/// The listener's short-lived login workers. Each greeted control connection whose client sent something becomes
/// `pasvd … --inetd --session-id N --hand-off-fd 3 --greeted --login-timeout S`, started with the socket as its
/// stdin/stdout and one end of a socket pair as descriptor 3. The worker alone parses what the client sends before logging in; after a good
/// login it sends the session back through the pair (`HandOffMessage.session`, the connection attached) and exits.
/// A worker hands over at most one session: after its first message (or a bad one) its channel is closed.
/// Every worker is a connection that has not logged in yet: the table counts them (in all and per peer address,
/// for `--max-prelogin`) apart from logged-in sessions, and ends a worker that outlives its login deadline.
final class LoginWorkers {
    struct Worker {
        let sessionID: Int
        /// The client's address ("" when unknown), for the per-address bound.
        let peer: String
        /// After this (monotonic seconds) the worker is killed: it should have closed its connection at the login
        /// deadline itself.
        let killDeadline: Double
        /// The listener's end of the pair; nil once the worker's one message was read.
        var channel: Int32?
    }

    /// A hand-off that passed every check: the session and its connection (now the caller's).
    typealias Accepted = (handOff: SessionHandOff, client: Int32)

    private let launcher: WorkerLauncher
    private let mapping: AccountMapping
    private let logger: Logger
    private(set) var running: [pid_t: Worker] = [:]

    init(launcher: WorkerLauncher, mapping: AccountMapping, logger: Logger) {
        self.launcher = launcher
        self.mapping = mapping
        self.logger = logger
    }

    var count: Int { running.count }
    /// Workers serving a connection from `peer`.
    func count(from peer: String) -> Int { running.values.reduce(0) { $0 + ($1.peer == peer ? 1 : 0) } }
    /// The earliest kill deadline, for the poll time-out.
    var nextDeadline: Double { running.values.map(\.killDeadline).min() ?? .infinity }
    var pids: [pid_t] { Array(running.keys) }

    /// Channels to poll, with their worker.
    var channels: [(pid: pid_t, fd: Int32)] { running.compactMap { pid, worker in worker.channel.map { (pid, $0) } } }

    /// Starts the login worker for session `id` on the connected socket `client` from `peer`, greeted by the
    /// listener, with `loginSeconds` left until its login deadline (the caller closes its copy of `client`).
    func start(id: Int, client: Int32, peer: String, loginSeconds: Double) throws(PosixError) {
        let (mine, theirs) = try DescriptorChannel.pair()
        defer { PosixDescriptor.close(theirs) }
        do {
            let seconds = max(loginSeconds, 0.001)
            let pid = try launcher.start(["--inetd", "--session-id", "\(id)", "--hand-off-fd", "3", "--greeted",
                                          "--login-timeout", "\(seconds)"], stdio: client, channel: theirs)
            let killDeadline = Monotonic.now() + seconds + ServerConfiguration.loginWorkerGraceSeconds
            running[pid] = Worker(sessionID: id, peer: peer, killDeadline: killDeadline, channel: mine)
        } catch {
            PosixDescriptor.close(mine)
            throw error
        }
    }

    /// Reads the worker's message, if one is waiting: a valid hand-off is returned with the account its user name
    /// maps to (`AccountMapping`, whatever the worker claimed); anything else is refused (its descriptors closed, a
    /// 421 on the connection when one came along) and logged.
    func receive(from pid: pid_t) -> Accepted? {
        guard let worker = running[pid], let channel = worker.channel else { return nil }
        let received: DescriptorChannel.Received
        do {
            guard case .done(let value) = try DescriptorChannel.receive(channel, maximumBytes: HandOffMessage.maximumBytes + 1,
                                                                        nonBlocking: true) else { return nil }
            received = value
        } catch {
            received = .closed
        }
        PosixDescriptor.close(channel)
        running[pid]?.channel = nil
        guard case .message(let message) = received else { return nil }
        switch LoginWorkers.check(message, sessionID: worker.sessionID) {
        case .success(let accepted):
            do {
                return (try mapping.resolve(accepted.handOff), accepted.client)
            } catch {
                logger.error("login of \(accepted.handOff.user) not served: \(error)",
                             metadata: ["session": "\(worker.sessionID)", "pid": "\(pid)"])
                if case .misconfigured = error {
                    // Trying again cannot help: a permanent 530, not the 421 of a passing failure.
                    FTPServer.refuse(accepted.client, "This account is not set up correctly on the server; ask its administrator.",
                                     code: ReplyCode.notLoggedIn)
                } else {
                    FTPServer.refuse(accepted.client, "Cannot start the session; try again later.")
                }
                PosixDescriptor.close(accepted.client)
                return nil
            }
        case .failure(let problem):
            logger.warning("refused the hand-off of a login worker: \(problem.reason)",
                           metadata: ["session": "\(worker.sessionID)", "pid": "\(pid)"])
            message.closeDescriptors(except: problem.client)
            if let client = problem.client {
                FTPServer.refuse(client, "Cannot start the session; try again later.")
                PosixDescriptor.close(client)
            }
            return nil
        }
    }

    /// SIGKILL for every worker past its kill deadline (it is reaped as usual; its connection closes with it).
    func expire(now: Double) {
        for (pid, worker) in running where worker.killDeadline <= now {
            logger.warning("login worker outlived its login deadline; killing it", metadata: ["session": "\(worker.sessionID)", "pid": "\(pid)"])
            PosixProcess.signal(pid, SIGKILL)
        }
    }

    /// Removes an exited worker after taking the message it may have left; true when `pid` was one of ours.
    func reaped(_ pid: pid_t, status: Int32) -> (ours: Bool, lastHandOff: Accepted?) {
        guard let worker = running[pid] else { return (false, nil) }
        let lastHandOff = receive(from: pid)
        if let channel = running[pid]?.channel { PosixDescriptor.close(channel) }
        running.removeValue(forKey: pid)
        if let failure = PosixProcess.failure(of: status) {
            logger.warning("login worker ended by \(failure)", metadata: ["session": "\(worker.sessionID)", "pid": "\(pid)"])
        }
        return (true, lastHandOff)
    }

    struct Refusal: Error {
        let reason: String
        /// The connection that came with the message, when it is one (it gets a 421).
        let client: Int32?
    }

    /// The checks on a login worker's message: one whole message, exactly one descriptor, a connected TCP socket,
    /// a well-formed session; the session number is the listener's own (the account is mapped after, in `receive`).
    static func check(_ message: DescriptorChannel.Message, sessionID: Int) -> Result<Accepted, Refusal> {
        let client = message.descriptors.count == 1 && DescriptorChannel.isConnectedTCPSocket(message.descriptors[0])
            ? message.descriptors[0] : nil
        guard !message.truncated, message.bytes.count <= HandOffMessage.maximumBytes else {
            return .failure(Refusal(reason: "message or descriptors truncated (limit \(HandOffMessage.maximumBytes) bytes, one descriptor)", client: client))
        }
        guard message.descriptors.count == 1 else {
            return .failure(Refusal(reason: "\(message.descriptors.count) descriptors attached, expected one", client: nil))
        }
        guard let client else { return .failure(Refusal(reason: "the descriptor is not a connected TCP socket", client: nil)) }
        let decoded: HandOffMessage
        do {
            decoded = try HandOffMessage.decode(message.bytes)
        } catch {
            return .failure(Refusal(reason: error.description, client: client))
        }
        guard case .session(var handOff) = decoded else {
            return .failure(Refusal(reason: "not a session hand-off", client: client))
        }
        handOff.sessionID = sessionID
        return .success((handOff, client))
    }
}

extension DescriptorChannel.Message {
    /// Closes the descriptors that came with the message, but `kept`.
    func closeDescriptors(except kept: Int32?) { for fd in descriptors where fd != kept { PosixDescriptor.close(fd) } }
}
