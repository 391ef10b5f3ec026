import Foundation

/// One forwarded connection: a local socket paired with a direct-tcpip channel, with a buffer each way,
/// half-close state and counters for the per-connection log line.
final class Forward {
    enum State { case queued, opening, open, closing, done }

    let id: Int
    let fd: Int32
    let peer: String
    let peerPort: Int
    let localPort: Int
    let target: ForwardTarget
    let filter: StreamFilter?
    let started = Date()
    var state: State = .queued
    var channel: SSHChannel?

    /// Local client → channel.
    let toChannel: ForwardBuffer
    /// Channel → local client.
    let toLocal: ForwardBuffer
    /// Filter output that did not fit into a buffer yet (rewrite mode only).
    var toChannelOverflow: [UInt8] = []
    var toLocalOverflow: [UInt8] = []

    /// Read 0 from the local socket.
    var localEOF = false
    /// The channel reported EOF (or close) from the server side.
    var channelEOF = false
    /// `send_eof` completed.
    var eofSent = false
    /// `shutdown(SHUT_WR)` done on the local socket.
    var localShutdown = false
    /// Local socket failed (reset): stop moving bytes and close.
    var localBroken = false
    /// A libssh2 write from `toChannel` is waiting for window (EAGAIN with only inbound blocked).
    var writeWaitsForWindow = false
    /// The filter has been told about the server's EOF.
    var filterSawServerEnd = false
    /// Active mode: told once whether the channel opened (nil) or why not.
    var onChannelOpen: ((String?) -> Void)?

    var bytesUp = 0
    var bytesDown = 0

    init(id: Int, fd: Int32, peer: String, peerPort: Int, localPort: Int, target: ForwardTarget,
         filter: StreamFilter?, bufferSize: Int) {
        self.id = id
        self.fd = fd
        self.peer = peer
        self.peerPort = peerPort
        self.localPort = localPort
        self.target = target
        self.filter = filter
        toChannel = ForwardBuffer(capacity: bufferSize)
        toLocal = ForwardBuffer(capacity: bufferSize)
    }

    /// Read from the local socket: channel open, not at EOF, room for it (and the filter takes input).
    var wantsLocalRead: Bool {
        state == .open && !localEOF && !localBroken && toChannel.hasRoom && toChannelOverflow.isEmpty
            && toLocalOverflow.isEmpty && (filter?.wantsClientBytes ?? true)
    }

    /// Write to the local socket: bytes waiting.
    var wantsLocalWrite: Bool { !localBroken && !toLocal.isEmpty }

    /// Read from the channel: open, not at EOF, room locally.
    var wantsChannelRead: Bool {
        state == .open && !channelEOF && !localBroken && toLocal.hasRoom && toLocalOverflow.isEmpty
            && toChannelOverflow.isEmpty && (filter?.wantsServerBytes ?? true)
    }

    /// Filter output for the server: into the buffer (appending never moves bytes a pending write refers to),
    /// the rest into the overflow.
    func queueToChannel(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        if toChannelOverflow.isEmpty {
            let taken = toChannel.append(bytes)
            if taken < bytes.count { toChannelOverflow = Array(bytes[taken...]) }
        } else {
            toChannelOverflow += bytes
        }
    }

    /// Filter output for the local client.
    func queueToLocal(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        if toLocalOverflow.isEmpty {
            let taken = toLocal.append(bytes)
            if taken < bytes.count { toLocalOverflow = Array(bytes[taken...]) }
        } else {
            toLocalOverflow += bytes
        }
    }

    /// The filter holds output back: neither EOF nor shutdown may go out yet.
    var filterHoldsOutput: Bool { filter?.holdsOutput ?? false }

    /// Both directions finished (or the local side broke): time to close the channel.
    var isFinished: Bool {
        localBroken || (eofSent && localShutdown)
    }

    func closeLocal() {
        close(fd)
    }
}
