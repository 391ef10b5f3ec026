import Foundation
import Posix

/// One `direct-tcpip` channel of a bastion session and the socket pair end it is pumped to (the next session runs
/// on the other end). Only the `HopPump` thread touches it. Both directions go through bounded buffers.
final class HopLane {
    let channel: SSHChannel
    /// Our end of the socket pair (non-blocking); -1 once closed.
    private(set) var local: Int32
    /// `host:port` the channel reaches, for log lines.
    let target: String
    let toChannel = ForwardBuffer(capacity: HopPump.laneBufferCapacity)
    let toLocal = ForwardBuffer(capacity: HopPump.laneBufferCapacity)
    /// The next session closed its end (or it broke).
    var localEOF = false
    /// The lane is over: its local end is closed and the channel is being closed, then freed.
    private(set) var closing = false
    var closeSent = false

    init(channel: SSHChannel, local: Int32, target: String) {
        self.channel = channel
        self.local = local
        self.target = target
        PosixSocket.setNonBlocking(local)
    }

    /// Ends the lane: the next session sees its connection closed; the channel close follows.
    func end() {
        closing = true
        closeLocal()
    }

    func closeLocal() {
        if local >= 0 { PosixDescriptor.close(local) }
        local = -1
        localEOF = true
    }

    /// Reads what the next session wrote (no libssh2 call).
    func readLocal() throws -> Bool {
        guard !localEOF, local >= 0, toChannel.hasRoom else { return false }
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

    /// Delivers what the channel carried to the next session (no libssh2 call).
    func writeLocal() throws -> Bool {
        guard !toLocal.isEmpty, local >= 0 else { return false }
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

    /// The poll events our end needs now.
    var localEvents: Int16 {
        var events: Int16 = 0
        if !localEOF, toChannel.hasRoom { events |= Int16(POLLIN) }
        if !toLocal.isEmpty { events |= Int16(POLLOUT) }
        return events
    }
}
