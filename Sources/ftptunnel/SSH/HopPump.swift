import Foundation
import Logging
import Posix

/// Carries the next hop's SSH session over a `direct-tcpip` channel of this hop (ProxyJump): a thread of its own
/// owns this hop's session and channel (libssh2 is not thread-safe per session) and moves bytes between the channel
/// and one end of a socket pair, whose other end the next session runs on. Both directions go through bounded
/// buffers. One partial packet per session (DESIGN 3.3): a channel write that returned EAGAIN with the socket full
/// is repeated identically, and a channel read that did (its window adjustment half sent) is repeated, before any
/// other libssh2 call that could send. The next session ending (its end closed) ends the pump, which closes the channel and
/// disconnects this hop; this hop's session ending closes the pair, so the next session sees its connection lost.
final class HopPump: SessionCarrier, @unchecked Sendable {
    /// Per direction: enough to keep a bastion's channel busy, small enough to be no memory concern.
    static let bufferCapacity = 256 << 10
    /// One channel write at most (libssh2 splits into packets of the channel's packet size anyway).
    static let writeChunk = 32 << 10
    /// How often an idle pump looks at `finish` (it is also woken by the next session closing its end).
    static let idleMilliseconds: Int32 = 5000

    private let session: SSHSession
    private let channel: SSHChannel
    /// Our end of the socket pair (non-blocking).
    private let local: Int32
    /// `bastion user@host:port`, for log lines.
    let name: String
    private let logger: Logger
    private let lock = NSLock()
    private var stopping = false

    private let toChannel = ForwardBuffer(capacity: HopPump.bufferCapacity)
    private let toLocal = ForwardBuffer(capacity: HopPump.bufferCapacity)
    /// A libssh2 call that returned EAGAIN with part of a packet sent; it must be repeated before any other.
    private enum Pending: Equatable {
        /// A channel write of this many bytes from the head of `toChannel` (same buffer, same offset, same length).
        case write(Int)
        /// A channel read whose window adjustment is half sent.
        case read
    }
    private var pending: Pending?
    private var localEOF = false

    init(session: SSHSession, channel: SSHChannel, local: Int32, name: String, logger: Logger) {
        self.session = session
        self.channel = channel
        self.local = local
        self.name = name
        self.logger = logger
    }

    /// Hands the session and channel to the pump's own thread; the caller must not touch them afterwards.
    func start() {
        PosixSocket.setNonBlocking(local)
        session.setBlocking(false)
        let thread = Thread { [self] in
            do {
                try run()
                logger.debug("jump channel closed", metadata: ["hop": "\(name)"])
            } catch {
                logger.info("jump channel ended: \(error)", metadata: ["hop": "\(name)"])
            }
            PosixDescriptor.close(local)
            session.disconnect(reason: "ftptunnel: the session through this bastion ended")
        }
        thread.name = "ftptunnel hop \(name)"
        thread.start()
    }

    /// Any thread: asks the pump to stop at its next pass (the next session's end closing wakes it sooner).
    func finish() {
        lock.withLock { stopping = true }
    }

    private var isStopping: Bool { lock.withLock { stopping } }

    private func run() throws {
        while !isStopping {
            var progress = true
            while progress {
                progress = false
                // Packets libssh2 took from the socket during a pass (a window adjustment read while writing, data
                // for the channel) no longer wake poll(): another pass uses them.
                let received = session.bytesReceived
                defer { if session.bytesReceived != received { progress = true } }
                if try writeChannel() { progress = true }
                if try readChannel() { progress = true }
                if try readLocal() { progress = true }
                if try writeLocal() { progress = true }
                if localEOF, toChannel.isEmpty, pending == nil { return }  // the next session is gone
                if channel.isEOF, toLocal.isEmpty, !channel.hasQueuedData {
                    throw SSHError.sessionLost(reason: "bastion \(name) closed the channel")
                }
            }
            try wait()
        }
    }

    /// Sends what the next session wrote; an EAGAIN with the socket full keeps the same bytes pinned for the
    /// identical retry.
    private func writeChannel() throws -> Bool {
        guard !toChannel.isEmpty, pending != .read else { return false }
        let length: Int
        if case .write(let pinned) = pending { length = pinned } else { length = min(toChannel.count, Self.writeChunk) }
        switch try channel.write(UnsafeRawBufferPointer(rebasing: toChannel.readable[0..<length])) {
        case .done(let n):
            pending = nil
            toChannel.pinned = false
            toChannel.consumed(n)
            return n > 0
        case .wouldBlock:
            if session.blockDirections.outbound {
                pending = .write(length)
                toChannel.pinned = true
            }
            return false
        }
    }

    /// Reads the channel while the local side has room (a read may send a window adjustment: never while a write
    /// is pending; and repeated, even without room, while that adjustment is half sent).
    private func readChannel() throws -> Bool {
        switch pending {
        case .write: return false
        case .read: break
        case nil: guard toLocal.hasRoom else { return false }
        }
        switch try channel.read(into: toLocal.writable()) {
        case .done(let n):
            pending = nil
            toLocal.produced(n)
            return n > 0
        case .wouldBlock:
            pending = session.blockDirections.outbound ? .read : nil
            return false
        }
    }

    private func readLocal() throws -> Bool {
        guard !localEOF, toChannel.hasRoom else { return false }
        switch try PosixSocket.read(local, into: toChannel.writable()) {
        case .done(0):
            localEOF = true
            return true
        case .done(let n):
            toChannel.produced(n)
            return true
        case .wouldBlock:
            return false
        }
    }

    private func writeLocal() throws -> Bool {
        guard !toLocal.isEmpty else { return false }
        let result: IOResult<Int>
        do {
            result = try PosixSocket.sendNow(local, toLocal.readable)
        } catch {
            guard error.code == EPIPE || error.code == ECONNRESET else { throw error }
            localEOF = true  // the next session closed its end: nothing left to deliver
            toLocal.consumed(toLocal.count)
            return true
        }
        switch result {
        case .done(let n):
            toLocal.consumed(n)
            return n > 0
        case .wouldBlock:
            return false
        }
    }

    /// Polls our end and the hop's socket in the directions each side can use now.
    private func wait() throws {
        var localEvents: Int16 = 0
        if !localEOF, toChannel.hasRoom { localEvents |= Int16(POLLIN) }
        if !toLocal.isEmpty { localEvents |= Int16(POLLOUT) }
        let directions = session.blockDirections
        var sshEvents: Int16 = 0
        if pending == nil, toLocal.hasRoom { sshEvents |= Int16(POLLIN) }
        if directions.outbound || pending != nil { sshEvents |= Int16(POLLOUT) }
        var fds = [pollfd(fd: local, events: localEvents, revents: 0),
                   pollfd(fd: session.socket, events: sshEvents, revents: 0)]
        _ = try PosixPoll.poll(&fds, milliseconds: Self.idleMilliseconds)
        if fds[1].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0, fds[1].revents & Int16(POLLIN) == 0 {
            throw SSHError.sessionLost(reason: "the connection to bastion \(name) was closed")
        }
    }
}
