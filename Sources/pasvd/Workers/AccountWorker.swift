import FTPServerKit
import Foundation
import Logging
import PasvdHandOff
import Posix

/// The process that serves logged-in sessions of one system account and root (`WorkerIdentity`), started by the
/// listener as `pasvd … --account-worker --worker-uid U --worker-gid G --worker-root=DIR` with its channel as
/// stdin/stdout. At start, before it receives any session, it opens the root (with pasvd's rights) and switches to
/// the account for good; from then on every session the listener hands it (`HandOffMessage.session`, the control
/// connection attached) runs on a thread of its own with the FTP engine, at most `--sessions-per-process` at once.
/// It exits when it has no session left and the listener closed the channel (after a short idle time, or on
/// shutdown), or after SIGTERM once its sessions ended.
final class AccountWorker: @unchecked Sendable {
    /// Stack reserved per session thread (only the pages touched cost memory). Measured in a debug build from the
    /// thread's stack mapping in /proc/PID/smaps: an idle session touches 16 KiB, one that ran LIST, MLSD and NLST
    /// of 20,000 entries, RETR, STOR, APPE, STAT of a directory and the path commands 36 KiB.
    static let sessionStackSize = 512 * 1024
    /// glibc malloc arenas shared by the session threads (each arena keeps its own free memory).
    static let mallocArenas: Int32 = 2
    /// A message to the listener that cannot be sent in this time is dropped (the listener then counts the
    /// session until the worker exits).
    static let channelSendSeconds = 5.0
    /// Session-end wake-ups consumed per loop (at most one per session is ever pending).
    static let maximumWakeUpsPerLoop = 64

    let configuration: ServerConfiguration
    let identity: WorkerIdentity
    private let channel: Int32 = STDIN_FILENO
    private let shutdown: ShutdownSignal
    private var logger: Logger
    private let lock = NSLock()
    private var active = 0
    private let wakeRead: Int32
    private let wakeWrite: Int32

    init(configuration: ServerConfiguration, identity: WorkerIdentity, logger: Logger) throws(PosixError) {
        self.configuration = configuration
        self.identity = identity
        self.logger = logger
        (wakeRead, wakeWrite) = try DescriptorChannel.pair()
        shutdown = try ShutdownSignal()
    }

    /// Runs the worker; returns the process exit status.
    func run() -> Int32 {
        shutdown.installSignalHandlers { _ in }
        let root: ConfinedRoot
        do {
            root = try ConfinedRoot(path: identity.root)
            if PosixIdentity.isRoot {
                let account = PosixIdentity.account(uid: identity.uid, gid: identity.gid)
                try PosixIdentity.switchPermanently(to: SystemAccount(name: account.name, uid: identity.uid, gid: identity.gid))
                logger.notice("sessions run as \(account.name) (uid \(identity.uid), gid \(identity.gid)) in \(identity.root)")
            } else if identity.uid != PosixIdentity.userID || identity.gid != PosixIdentity.groupID {
                throw PosixError("serve uid \(identity.uid) without root", code: EPERM)
            }
        } catch {
            logger.error("account worker for \(identity) cannot start: \(error)")
            return 1
        }
        PosixProcess.limitMallocArenas(AccountWorker.mallocArenas)
        PosixSocket.setSendTimeout(channel, seconds: AccountWorker.channelSendSeconds)
        var receiving = true, draining = false
        while true {
            if !receiving || draining, activeSessions == 0 { return 0 }
            var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            if !draining { fds.append(pollfd(fd: shutdown.drainFD, events: Int16(POLLIN), revents: 0)) }
            if receiving, !draining { fds.append(pollfd(fd: channel, events: Int16(POLLIN), revents: 0)) }
            _ = try? PosixPoll.poll(&fds, milliseconds: -1)
            for entry in fds where entry.revents != 0 {
                switch entry.fd {
                case wakeRead: drainWakeUps()
                case channel: receiving = receive(root: root)
                default: draining = true  // SIGTERM: sessions end as they finish (ShutdownSignal), nothing new comes
                }
            }
        }
    }

    private var activeSessions: Int { lock.withLock { active } }

    /// Takes one message from the listener; false once the channel is closed.
    private func receive(root: ConfinedRoot) -> Bool {
        let received: DescriptorChannel.Received
        do {
            guard case .done(let value) = try DescriptorChannel.receive(channel, maximumBytes: HandOffMessage.maximumBytes + 1,
                                                                        nonBlocking: true) else { return true }
            received = value
        } catch {
            logger.error("channel to the listener: \(error)")
            return false
        }
        guard case .message(let message) = received else { return false }
        guard !message.truncated, message.descriptors.count == 1, DescriptorChannel.isConnectedTCPSocket(message.descriptors[0]),
              case .session(let handOff)? = try? HandOffMessage.decode(message.bytes), handOff.worker == identity else {
            logger.error("malformed message from the listener ignored (\(message.bytes.count) bytes, \(message.descriptors.count) descriptors)")
            message.closeDescriptors()
            return true
        }
        let client = message.descriptors[0]
        let admitted = lock.withLock { () -> Bool in
            guard active < configuration.sessionsPerProcess else { return false }
            active += 1
            return true
        }
        guard admitted else {
            FTPServer.refuse(client, "Too many sessions in this worker; try again later.")
            PosixDescriptor.close(client)
            tellListener(.ended(session: handOff.sessionID))
            return true
        }
        tellListener(.accepted(session: handOff.sessionID))
        let thread = Thread { [self] in
            serve(handOff, client: client, root: root)
            PosixDescriptor.close(client)
            tellListener(.ended(session: handOff.sessionID))
            PosixProcess.releaseFreeMemory()  // the session's peak (a huge listing) need not stay with the worker
            lock.withLock { active -= 1 }
            _ = try? DescriptorChannel.send(wakeWrite, [1], nonBlocking: true)
        }
        thread.stackSize = AccountWorker.sessionStackSize
        thread.start()
        return true
    }

    private func serve(_ handOff: SessionHandOff, client: Int32, root: ConfinedRoot) {
        PosixSocket.setNoDelay(client)
        PosixSocket.setSendTimeout(client, seconds: configuration.idleTimeout)
        let login = LoggedIn(name: handOff.user, writable: handOff.writable, isAnonymous: handOff.isAnonymous,
                             rootDescription: identity.root, store: LocalFileStore(root: root, uploadVisibility: configuration.uploadVisibility))
        Session(resuming: login, state: handOff.state, id: handOff.sessionID, settings: configuration.sessionSettings,
                shutdown: shutdown, socket: client,
                localHost: PosixSocket.localAddress(client)?.host ?? ServerConfiguration.defaultListen,
                peerHost: PosixSocket.peerAddress(client)?.host, logger: logger).run()
    }

    private func tellListener(_ message: HandOffMessage) {
        _ = try? DescriptorChannel.send(channel, message.encoded(), nonBlocking: false)
    }

    private func drainWakeUps() {
        for _ in 0..<AccountWorker.maximumWakeUpsPerLoop {
            guard case .done(.message)? = try? DescriptorChannel.receive(wakeRead, maximumBytes: 1, nonBlocking: true) else { return }
        }
    }
}
