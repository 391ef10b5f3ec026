import CLibSSH2
import FTPServerKit
import Foundation
import Posix

/// The one door to an SSH session that several threads share (the bridge's SFTP channels): libssh2 1.10 is not
/// thread-safe per session, but serialized use from several threads is. The session runs in non-blocking mode;
/// every call goes through `perform` (blocking semantics, bounded by the caller's deadline) or `attempt` (one try).
///
/// - One call at a time. After EAGAIN with a packet half sent (outbound blocked), the calling thread keeps the
///   session and only its identical call may come next (DESIGN §3: libssh2 1.10 otherwise sends the wrong bytes).
/// - After EAGAIN waiting for the server, the door opens for others. Another thread's call may read (into
///   libssh2's queue) the very packet this thread waits for, so a readable socket is not the only progress:
///   every call that read from the socket bumps `generation`; one waiting thread polls the socket (and a wake pipe written when the
///   generation moves), the others wait for the generation to move. Every wait ends at its caller's deadline.
/// - `markLost()` (the connection is dead, or a half-sent packet was abandoned): every call fails at once.
final class SessionGate: @unchecked Sendable {
    private let handle: SessionHandle
    private let socket: Int32
    /// Bytes libssh2 has taken from the socket so far (read only inside a call, i.e. by the gate's owner).
    private let received: () -> Int
    private let condition = NSCondition()
    /// The thread inside a call, or holding the session after an outbound EAGAIN.
    private var owner: ObjectIdentifier?
    /// Bumped after every call that read from the socket (only then can packets for others be queued in libssh2;
    /// calls that read nothing leave it alone, so threads waiting together do not wake each other in turn).
    private var generationValue = 0
    /// A waiting thread is in poll(2) on the socket.
    private var polling = false
    /// Written when the generation moves while a thread polls; made on first need.
    private var wake: WakeUpPipe?
    private var lostReason: String?
    /// The thread starting a channel (an SFTP start, or a raw channel open): libssh2 1.10 keeps one channel open's
    /// and one SFTP start's state per session, so starts must not interleave (another thread's call would continue
    /// this one's and take its channel).
    private var starter: ObjectIdentifier?
    /// Readable once the session is lost (never drained); made on first need.
    private var lostPipe: WakeUpPipe?

    init(handle: SessionHandle, socket: Int32, received: @escaping () -> Int) {
        self.handle = handle
        self.socket = socket
        self.received = received
    }

    /// Why the session is unusable, once it is.
    var lost: String? { condition.withLock { lostReason } }

    /// The current generation, for `waitForProgress(since:)` by a caller making several attempts in a row.
    var generation: Int { condition.withLock { generationValue } }

    /// A descriptor that becomes readable (and stays so) when the session is lost: what an idle user of a shared
    /// session waits on instead of the socket, which other channels' traffic makes readable.
    var lostDescriptor: Int32? {
        let (pipe, isLost) = condition.withLock { () -> (WakeUpPipe?, Bool) in
            if lostPipe == nil { lostPipe = try? WakeUpPipe() }
            return (lostPipe, lostReason != nil)
        }
        if isLost { pipe?.wake() }
        return pipe?.readFD
    }

    /// Makes every later call fail at once (a half-sent packet is given up) and wakes the waiting ones.
    func markLost(_ reason: String) {
        let (poller, pipe) = condition.withLock { () -> (WakeUpPipe?, WakeUpPipe?) in
            if lostReason == nil { lostReason = reason }
            owner = nil
            generationValue += 1
            condition.broadcast()
            return (wake, lostPipe)
        }
        poller?.wake()
        pipe?.wake()
    }

    /// Runs `body` (one libssh2 call on this session) until it is done, waiting between tries as described above;
    /// throws `LIBSSH2_ERROR_TIMEOUT` at `deadline` (monotonic seconds). A half-sent packet still pending then
    /// makes the session lost.
    func perform<T>(_ function: String, until deadline: Double, _ body: () throws -> SSHResult<T>) throws -> T {
        while true {
            let (result, after) = try tracked(function, until: deadline, body)
            if case .done(let value) = result { return value }
            guard waitForProgress(function, since: after, until: deadline) else {
                if isHeldByCurrentThread { markLost("a packet stayed half sent past its deadline in \(function)") }
                throw timeout(function)
            }
        }
    }

    /// One try of `body` under the gate. On `.wouldBlock` with a packet half sent the calling thread keeps the
    /// session: its next call must repeat this one (until it is done or fails).
    func attempt<T>(_ function: String, until deadline: Double, _ body: () throws -> SSHResult<T>) throws -> SSHResult<T> {
        try tracked(function, until: deadline, body).result
    }

    /// Runs `body` (a channel start to its end) while no other thread starts one, waiting for that at most until
    /// `deadline`.
    func startingChannel<T>(until deadline: Double, _ body: () throws -> T) throws -> T {
        let me = ObjectIdentifier(Thread.current)
        condition.lock()
        while let other = starter, other != me {
            guard Monotonic.now() < deadline else {
                condition.unlock()
                throw timeout("a channel start")
            }
            _ = condition.wait(until: Date(timeIntervalSinceNow: max(0, deadline - Monotonic.now())))
        }
        starter = me
        condition.unlock()
        defer { releaseChannelStart() }
        return try body()
    }

    /// For one-try starts: true when the calling thread may go on with a channel start (it then holds the right
    /// until `releaseChannelStart`); false while another thread's start is under way.
    func claimChannelStart() -> Bool {
        let me = ObjectIdentifier(Thread.current)
        return condition.withLock {
            guard starter == nil || starter == me else { return false }
            starter = me
            return true
        }
    }

    /// Ends the calling thread's channel start (done, failed or given up: a start left half done is completed by the
    /// next one, which gets its channel).
    func releaseChannelStart() {
        let me = ObjectIdentifier(Thread.current)
        condition.withLock {
            guard starter == me else { return }
            starter = nil
            condition.broadcast()
        }
    }

    /// True when the calling thread holds the session after a half-sent packet (its same call must come next).
    var isHeldByCurrentThread: Bool {
        let me = ObjectIdentifier(Thread.current)
        return condition.withLock { owner == me }
    }

    /// After a `.wouldBlock`: true when a retry may get further: the socket can take more (for the holder of a
    /// half-sent packet), the generation moved past `since`, or the socket is readable; false at `deadline`.
    func waitForProgress(_ function: String, since: Int, until deadline: Double) -> Bool {
        let me = ObjectIdentifier(Thread.current)
        condition.lock()
        if owner == me {
            condition.unlock()
            return (try? PosixPoll.wait(socket, events: Int16(POLLOUT), milliseconds: Monotonic.milliseconds(until: deadline))) == true
        }
        defer { condition.unlock() }
        while generationValue == since, lostReason == nil {
            guard Monotonic.now() < deadline else { return false }
            if polling {
                _ = condition.wait(until: Date(timeIntervalSinceNow: max(0, deadline - Monotonic.now())))
                continue
            }
            polling = true
            if wake == nil { wake = try? WakeUpPipe() }
            let pipe = wake
            condition.unlock()
            var fds = [pollfd(socket, POLLIN)] + (pipe.map { [pollfd($0.readFD, POLLIN)] } ?? [])
            _ = try? PosixPoll.poll(&fds, milliseconds: Monotonic.milliseconds(until: deadline))
            pipe?.drain()
            condition.lock()
            polling = false
            condition.broadcast()
            if fds[0].revents != 0 { return true }
        }
        return true
    }

    // MARK: Inside

    /// One try; also returns the generation right after it.
    private func tracked<T>(_ function: String, until deadline: Double, _ body: () throws -> SSHResult<T>) throws -> (result: SSHResult<T>, after: Int) {
        let me = ObjectIdentifier(Thread.current)
        try enter(me, function, until: deadline)
        let before = received()
        let result: SSHResult<T>
        do {
            result = try body()
        } catch {
            _ = leave(keep: false, read: received() != before)
            throw error
        }
        var keep = false
        if case .wouldBlock = result {
            keep = libssh2_session_block_directions(handle) & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0
        }
        return (result, leave(keep: keep, read: received() != before))
    }

    private func enter(_ me: ObjectIdentifier, _ function: String, until deadline: Double) throws {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let lostReason { throw LibSSH2Failure(function: function, code: LIBSSH2_ERROR_SOCKET_DISCONNECT, message: lostReason) }
            if owner == nil || owner == me { break }
            guard Monotonic.now() < deadline else { throw timeout(function) }
            _ = condition.wait(until: Date(timeIntervalSinceNow: max(0, deadline - Monotonic.now())))
        }
        owner = me
    }

    /// Ends a call; returns the generation after it.
    private func leave(keep: Bool, read: Bool) -> Int {
        condition.lock()
        if read { generationValue += 1 }
        if !keep || lostReason != nil { owner = nil }
        let after = generationValue
        let poller = read && polling ? wake : nil
        condition.broadcast()
        condition.unlock()
        poller?.wake()
        return after
    }

    private func timeout(_ function: String) -> LibSSH2Failure {
        LibSSH2Failure(function: function, code: LIBSSH2_ERROR_TIMEOUT, message: "no answer from the SSH server in time")
    }
}
