import Foundation
import FTPServerKit
import Logging
import Posix

/// The bridge's SSH sessions, shared by its FTP sessions: each FTP session gets its own SFTP channel on the
/// least-loaded live SSH session; a new SSH session is opened only when every one carries `channelsPerSession`
/// FTP sessions (or is being opened for as many), so a burst of FTP logins needs one SSH login per
/// `channelsPerSession` and a second FTP session needs no SSH handshake at all. FTP sessions that find no room
/// while a session is being opened wait for it and share its outcome (one login, also after a loss: the FTP
/// sessions of a dead session reconnect onto one replacement). A session nobody uses any more is closed. Once a
/// session is shared (two FTP sessions), one SFTP channel is kept started ahead on it (in the background, 3 round
/// trips), so the next FTP session on it starts at once; the watcher reads through it (below). A session with one
/// FTP session starts none: a lone client often stays alone, and the channel would only cost the server a
/// subsystem process.
///
/// Each session has one watcher thread that marks it lost on the server's end of stream (POLLRDHUP/HUP/ERR), and
/// that reads for everyone data left unread in the socket for a second (a stalled download's data would otherwise
/// hide the end of stream from idle FTP sessions; reading it only queues it inside libssh2, within that channel's
/// window); `SFTPLink` waits on the session's lost descriptor (`SessionGate.lostDescriptor`) instead of the
/// shared socket, which other channels' traffic makes readable. Thread-safe.
final class SharedSessions: @unchecked Sendable {
    /// FTP sessions per SSH session. Each takes one SFTP channel, one more is started ahead, striped uploads
    /// (`SFTPStreams`) add channels on the same session, and sshd's MaxSessions (default 10) bounds the channels
    /// of one session: 4 leaves 5 for stripes and a channel reopened after a failed write, while 20 FTP sessions
    /// need 5 logins, under MaxStartups' 10.
    static let channelsPerSession = 4

    /// Opens and authenticates a new SSH session (bounded by ConnectTimeout).
    typealias Connector = () throws -> SSHSession

    private final class Member {
        var session: SSHSession?
        /// FTP sessions on it, or waiting for it while it is opened.
        var users = 0
        /// Fewer than `channelsPerSession` when the server refused a channel.
        var capacity = SharedSessions.channelsPerSession
        var failure: Error?
        /// A channel started ahead for the next FTP session, or being started (`startingSpare`).
        var spare: SFTPSession?
        var startingSpare = false
        var isOpening: Bool { session == nil && failure == nil }
        var isLive: Bool { session.map { $0.gate.lost == nil } ?? (failure == nil) }
    }

    private let connect: Connector
    private let waitLimit: Double
    private let logger: Logger
    private let condition = NSCondition()
    private var members: [Member] = []
    /// SSH sessions opened so far.
    private(set) var logins = 0
    /// Watcher and channel-start threads still running (guarded by `condition`): `stop()` waits for them, so no
    /// libssh2 session is freed on one of them while the process exits (OpenSSL's exit handlers would already
    /// have torn down what `libssh2_session_free` still uses).
    private var backgroundThreads = 0

    init(waitLimit: Double, logger: Logger, connect: @escaping Connector) {
        self.connect = connect
        self.waitLimit = waitLimit
        self.logger = logger
    }

    /// SSH sessions open now (for tests and the log).
    var count: Int { condition.withLock { members.filter { $0.session != nil && $0.isLive }.count } }

    /// A new SFTP channel for one FTP session; pair every success with `release(_:)` on the channel's session.
    func openChannel() throws -> SFTPSession {
        while true {
            let (member, opener) = try claim()
            if opener {
                do {
                    let session = try connect()
                    condition.withLock {
                        logins += 1
                        member.session = session
                        condition.broadcast()
                    }
                    watch(session, member)
                } catch {
                    condition.withLock {
                        member.failure = error
                        member.users -= 1
                        members.removeAll { $0 === member }
                        condition.broadcast()
                    }
                    throw error
                }
            }
            guard let session = member.session else { continue }
            do {
                let channel = try takeSpare(member, until: Monotonic.now() + waitLimit) ?? SFTPSession(session: session)
                startSpare(member)
                return channel
            } catch let failure as SFTPFailure where !failure.breaksSession && !failure.isConnectionLost {
                // The server refused the channel (MaxSessions): no more FTP sessions on this SSH session.
                condition.withLock {
                    member.users -= 1
                    member.capacity = min(member.capacity, member.users)
                    condition.broadcast()
                }
                logger.info("the SSH server refused another SFTP channel (\(failure)); the next FTP sessions go to another SSH session")
                closeIfUnused(member)
            } catch {
                if let failure = error as? SFTPFailure, failure.breaksSession { session.gate.markLost("\(failure)") }
                release(session)
                throw error
            }
        }
    }

    /// An FTP session no longer uses a channel on `session`; the last one closes it.
    func release(_ session: SSHSession) {
        guard let member = condition.withLock({ members.first { $0.session === session } }) else { return }
        condition.withLock {
            member.users -= 1
            condition.broadcast()
        }
        closeIfUnused(member)
    }

    /// The bridge stops (its FTP sessions have ended): every session is marked lost, which ends its watcher, then
    /// this waits (at most `seconds`) for the background threads and frees the sessions on the calling thread.
    func stop(waitingAtMost seconds: Double = 5) {
        let gates = condition.withLock { members.compactMap { $0.session?.gate } }
        for gate in gates { gate.markLost("the bridge is stopping") }
        let deadline = Date(timeIntervalSinceNow: seconds)
        let left: [Member] = condition.withLock {
            while backgroundThreads > 0, condition.wait(until: deadline) {}
            defer { members = [] }
            return members
        }
        for member in left { member.spare = nil }
    }

    /// Runs `body` on a new thread counted in `backgroundThreads`; `body` drops its references (sessions,
    /// members) before the count goes down.
    private func startBackgroundThread(_ body: @escaping @Sendable () -> Void) {
        condition.withLock { backgroundThreads += 1 }
        let thread = Thread { [self] in
            body()
            condition.withLock {
                backgroundThreads -= 1
                condition.broadcast()
            }
        }
        thread.stackSize = 256 << 10
        thread.start()
    }

    /// How long data may wait unread in a session's socket before its watcher reads it.
    static let unreadGraceMilliseconds: Int32 = 1000

    // MARK: Inside

    /// Reads what waits in the member's socket into libssh2 through its channel started ahead (idle, so nothing of
    /// its own is consumed); a broken connection marks the session lost. Nothing without such a channel.
    private func readAhead(_ member: Member) {
        condition.withLock { try? member.spare?.readTransport() }
    }

    /// The member's channel started ahead, waiting for one being started.
    private func takeSpare(_ member: Member, until deadline: Double) -> SFTPSession? {
        condition.lock()
        defer { condition.unlock() }
        while member.startingSpare, Monotonic.now() < deadline {
            _ = condition.wait(until: Date(timeIntervalSinceNow: max(0, deadline - Monotonic.now())))
        }
        defer { member.spare = nil }
        return member.spare
    }

    /// Starts a channel ahead on a live shared member, in the background (a refusal just leaves none).
    private func startSpare(_ member: Member) {
        let session: SSHSession? = condition.withLock {
            guard member.isLive, member.spare == nil, !member.startingSpare, member.users >= 2, member.users <= member.capacity,
                  members.contains(where: { $0 === member }) else { return nil }
            member.startingSpare = true
            return member.session
        }
        guard let session else { return }
        let refs = ThreadReferences(session: session, member: member)
        startBackgroundThread { [self] in
            defer { refs.drop() }
            guard let shared = refs.session, let held = refs.member else { return }
            let channel = try? SFTPSession(session: shared)
            condition.withLock {
                held.startingSpare = false
                if held.isLive, members.contains(where: { $0 === held }) { held.spare = channel }
                condition.broadcast()
            }
        }
    }

    /// A member with room (waiting while it is opened); `opener` when the caller must open it.
    private func claim() throws -> (Member, opener: Bool) {
        let deadline = Monotonic.now() + waitLimit
        condition.lock()
        defer { condition.unlock() }
        while true {
            members.removeAll { !$0.isLive && !$0.isOpening }
            let candidates = members.filter { $0.isLive && $0.users < $0.capacity }
            if let best = candidates.min(by: { $0.users < $1.users }) {
                best.users += 1
                while best.isOpening {
                    guard Monotonic.now() < deadline,
                          condition.wait(until: Date(timeIntervalSinceNow: deadline - Monotonic.now())) || !best.isOpening else {
                        best.users -= 1
                        throw SharedSessionsError.openingTooLong(seconds: Int(waitLimit))
                    }
                }
                if let failure = best.failure { throw failure }
                if best.session != nil { return (best, false) }
                continue
            }
            let member = Member()
            member.users = 1
            members.append(member)
            return (member, true)
        }
    }

    private func closeIfUnused(_ member: Member) {
        let closing: (session: SSHSession, spare: SFTPSession?)? = condition.withLock {
            guard member.users <= 0, let session = member.session else { return nil }
            members.removeAll { $0 === member }
            defer { member.spare = nil }
            return (session, member.spare)
        }
        // The session ends (disconnect) once its last channel is gone (the spare's shutdown, outside the lock, fails
        // at once on the lost gate); the watcher ends now.
        closing?.session.gate.markLost("no FTP session uses it any more")
    }

    /// One thread per session: marks it lost when the server ends the connection.
    /// It keeps the session (and so its socket) open until it ends, which `markLost` makes it do.
    private func watch(_ session: SSHSession, _ member: Member) {
        guard let lostFD = session.gate.lostDescriptor else { return }
        let logger = self.logger
        // The gate and the pool are thread-safe; the socket is only polled and asked how much waits in it.
        let refs = ThreadReferences(session: session, member: member)
        startBackgroundThread { [self] in
            defer { refs.drop() }
            guard let session = refs.session, let held = refs.member else { return }
            let gate = session.gate
            while gate.lost == nil {
                var fds = [pollfd(session.socket, Int32(PosixPoll.readHangUp) | POLLIN), pollfd(lostFD, POLLIN)]
                guard (try? PosixPoll.poll(&fds, milliseconds: -1)) != nil else { continue }
                if fds[1].revents != 0 { return }
                if fds[0].revents & (Int16(PosixPoll.readHangUp) | Int16(POLLHUP) | Int16(POLLERR)) != 0 {
                    logger.notice("a shared SSH session of the bridge was closed by the server; its FTP sessions reconnect")
                    gate.markLost("the server closed the connection")
                    return
                }
                // Data arrived: the FTP sessions' own calls normally read it within a second.
                if (try? PosixPoll.wait(lostFD, events: Int16(POLLIN), milliseconds: SharedSessions.unreadGraceMilliseconds)) == true { return }
                if session.unreadBytes > 0 { readAhead(held) }
            }
        }
    }

    /// What a background thread holds, dropped by the thread itself before it counts as ended (so a session it
    /// held last is freed there, not after `stop()` returned). The gate and the pool are thread-safe.
    private final class ThreadReferences: @unchecked Sendable {
        private(set) var session: SSHSession?
        private(set) var member: Member?

        init(session: SSHSession, member: Member) {
            self.session = session
            self.member = member
        }

        func drop() {
            session = nil
            member = nil
        }
    }
}

enum SharedSessionsError: Error, CustomStringConvertible {
    case openingTooLong(seconds: Int)

    var description: String {
        switch self {
        case .openingTooLong(let seconds):
            return "no SSH session to the SFTP server came up within \(seconds) s (ConnectTimeout); try again, or raise ConnectTimeout"
        }
    }
}
