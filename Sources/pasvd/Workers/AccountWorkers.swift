import FTPServerKit
import Foundation
import Logging
import PasvdHandOff
import Posix

/// The listener's table of account workers (`AccountWorker`): long-lived processes, each serving up to
/// `--sessions-per-process` logged-in sessions of one `WorkerIdentity` (system account and root). A hand-off goes
/// to a worker of its identity with room, or to a new one. The listener keeps its copy of the connection until the
/// worker confirms it took the session (`accepted`), so a worker that dies or hangs first costs that client a
/// 421, not silence. A worker without sessions for `idleExitSeconds` is told to go (its channel is closed: it
/// exits once it has no session left); a worker that dies, closes its channel or sends anything malformed is
/// retired from the table at once.
final class AccountWorkers {
    /// How long a worker has to confirm a hand-off before the client gets a 421 and the worker is retired.
    static let acceptSeconds = 10.0
    /// Messages read from one worker per listener loop (a flooding worker cannot starve the others).
    static let messagesPerService = 64

    final class Worker {
        let pid: pid_t
        let identity: WorkerIdentity
        /// The listener's end of the channel; nil once the worker is retired (it gets no more sessions).
        var channel: Int32?
        /// Sessions handed to the worker and not yet ended (those awaiting confirmation included).
        var sessions: Set<Int> = []
        /// Sessions sent but not yet confirmed: the listener's copy of each connection, and its deadline.
        var unconfirmed: [Int: (client: Int32, deadline: Double)] = [:]
        /// Since when the worker has had no session (monotonic seconds).
        var idleSince: Double?

        init(pid: pid_t, identity: WorkerIdentity, channel: Int32) {
            self.pid = pid
            self.identity = identity
            self.channel = channel
        }
    }

    let sessionsPerProcess: Int
    let idleExitSeconds: Double
    private let launcher: WorkerLauncher
    private let logger: Logger
    private var workers: [pid_t: Worker] = [:]

    init(launcher: WorkerLauncher, sessionsPerProcess: Int, idleExitSeconds: Double, logger: Logger) {
        self.launcher = launcher
        self.sessionsPerProcess = sessionsPerProcess
        self.idleExitSeconds = idleExitSeconds
        self.logger = logger
    }

    var pids: [pid_t] { Array(workers.keys) }
    var sessionCount: Int { workers.values.reduce(0) { $0 + $1.sessions.count } }
    var channels: [(pid: pid_t, fd: Int32)] { workers.values.compactMap { worker in worker.channel.map { (worker.pid, $0) } } }

    /// The earliest time something is due (an idle exit or a confirmation deadline), for the poll time-out.
    var nextDeadline: Double {
        workers.values.reduce(Double.infinity) { earliest, worker in
            let idle = worker.channel != nil ? (worker.idleSince.map { $0 + idleExitSeconds } ?? .infinity) : .infinity
            return min(earliest, idle, worker.unconfirmed.values.map(\.deadline).min() ?? .infinity)
        }
    }

    /// Hands `handOff` with its connection `client` (ours from now on) to a worker of its identity, starting one
    /// when none has room. On any failure the client gets a 421.
    func route(_ handOff: SessionHandOff, client: Int32) {
        let worker = workers.values.filter { $0.identity == handOff.worker && $0.channel != nil && $0.sessions.count < sessionsPerProcess }
            .min { $0.pid < $1.pid } ?? spawn(handOff.worker)
        guard let worker, let channel = worker.channel else {
            return refuse(client, "Cannot start a session now; try again later.")
        }
        do {
            guard case .done = try DescriptorChannel.send(channel, HandOffMessage.session(handOff).encoded(), passing: client,
                                                          nonBlocking: true) else {
                logger.warning("account worker is not taking sessions; retiring it", metadata: ["pid": "\(worker.pid)"])
                retire(worker)
                return refuse(client, "Cannot start a session now; try again later.")
            }
        } catch {
            logger.warning("cannot hand a session to its account worker: \(error)", metadata: ["pid": "\(worker.pid)"])
            retire(worker)
            return refuse(client, "Cannot start a session now; try again later.")
        }
        worker.sessions.insert(handOff.sessionID)
        worker.unconfirmed[handOff.sessionID] = (client, Monotonic.now() + AccountWorkers.acceptSeconds)
        worker.idleSince = nil
        logger.debug("session handed to account worker", metadata: ["session": "\(handOff.sessionID)", "pid": "\(worker.pid)"])
    }

    /// Reads what worker `pid` sent: confirmations and ended sessions. A closed channel or a malformed message
    /// retires the worker (its sessions go on; it gets no new ones).
    func service(_ pid: pid_t) {
        guard let worker = workers[pid] else { return }
        for _ in 0..<AccountWorkers.messagesPerService {
            guard let channel = worker.channel else { return }
            let received: DescriptorChannel.Received
            do {
                guard case .done(let value) = try DescriptorChannel.receive(channel, maximumBytes: 256, nonBlocking: true) else { return }
                received = value
            } catch {
                received = .closed
            }
            guard case .message(let message) = received else {
                retire(worker)
                return
            }
            message.closeDescriptors()
            switch message.truncated ? nil : try? HandOffMessage.decode(message.bytes) {
            case .accepted(let id)?:
                if let (client, _) = worker.unconfirmed.removeValue(forKey: id) { PosixDescriptor.close(client) }
            case .ended(let id)?:
                // A session ended before it was confirmed: the worker refused it and told the client itself.
                if let (client, _) = worker.unconfirmed.removeValue(forKey: id) { PosixDescriptor.close(client) }
                if worker.sessions.remove(id) != nil, worker.sessions.isEmpty { worker.idleSince = Monotonic.now() }
            default:
                logger.warning("account worker sent a malformed message; retiring it", metadata: ["pid": "\(pid)"])
                retire(worker)
                return
            }
        }
    }

    /// Retires idle workers and those that let a confirmation deadline pass (their unconfirmed clients get 421).
    func expire(now: Double) {
        for worker in workers.values {
            if worker.channel != nil, let since = worker.idleSince, now >= since + idleExitSeconds {
                logger.debug("account worker idle, letting it go", metadata: ["pid": "\(worker.pid)"])
                retire(worker)
            }
            let late = worker.unconfirmed.filter { $0.value.deadline <= now }
            guard !late.isEmpty else { continue }
            logger.warning("account worker did not take \(late.count) session(s) in time; retiring it", metadata: ["pid": "\(worker.pid)"])
            for (id, pending) in late {
                worker.unconfirmed.removeValue(forKey: id)
                worker.sessions.remove(id)
                refuse(pending.client, "Cannot start the session; try again later.")
            }
            retire(worker)
        }
    }

    /// Removes an exited worker; its unconfirmed clients get 421. True when `pid` was one of ours.
    func reaped(_ pid: pid_t, status: Int32) -> Bool {
        guard let worker = workers.removeValue(forKey: pid) else { return false }
        if let channel = worker.channel { PosixDescriptor.close(channel) }
        for pending in worker.unconfirmed.values { refuse(pending.client, "Cannot start the session; try again later.") }
        let lost = worker.sessions.count
        if let failure = PosixProcess.failure(of: status) {
            logger.warning("account worker ended by \(failure); \(lost) session(s) of \(worker.identity) ended with it",
                           metadata: ["pid": "\(pid)"])
        } else if lost > 0 {
            logger.notice("account worker exited with \(lost) session(s) still counted", metadata: ["pid": "\(pid)"])
        }
        return true
    }

    /// Stops handing sessions to every worker (the listener is shutting down): channels closed, unconfirmed
    /// clients told.
    func retireAll(reason: String) {
        for worker in workers.values {
            for pending in worker.unconfirmed.values { refuse(pending.client, reason) }
            worker.unconfirmed = [:]
            retire(worker)
        }
    }

    private func retire(_ worker: Worker) {
        if let channel = worker.channel { PosixDescriptor.close(channel) }
        worker.channel = nil
    }

    private func refuse(_ client: Int32, _ text: String) {
        FTPServer.refuse(client, text)
        PosixDescriptor.close(client)
    }

    private func spawn(_ identity: WorkerIdentity) -> Worker? {
        do {
            let (mine, theirs) = try DescriptorChannel.pair()
            defer { PosixDescriptor.close(theirs) }
            let arguments = ["--account-worker", "--worker-uid", "\(identity.uid)", "--worker-gid", "\(identity.gid)",
                             "--worker-root=\(identity.root)"]
            let pid: pid_t
            do {
                pid = try launcher.start(arguments, stdio: theirs)
            } catch {
                PosixDescriptor.close(mine)
                throw error
            }
            let worker = Worker(pid: pid, identity: identity, channel: mine)
            workers[pid] = worker
            logger.info("account worker started", metadata: ["pid": "\(pid)", "account": "\(identity)"])
            return worker
        } catch {
            logger.error("cannot start an account worker for \(identity): \(error)")
            return nil
        }
    }
}
