import Foundation
import FTPServerKit
import Posix
import TunnelCore

/// One forwarded connection: a local socket paired with a direct-tcpip channel, a bounded buffer each way, and
/// explicit states for the channel and for each direction (in the manner of OpenSSH's istate/ostate).
final class Forward {
    /// The channel's life, from the loop's point of view.
    enum ChannelState: Equatable {
        /// Active mode: the non-blocking connect to the client's port is in progress (finished on POLLOUT).
        case connectingLocally(SocketAddress, deadline: Date)
        /// Waiting for its lane's one open in flight.
        case queued
        /// The lane's open in flight; `abandoned` once its client was answered after `openDeadline`: the channel
        /// is closed as soon as the open completes.
        case opening(since: Date, abandoned: Bool)
        case open
        /// close + free under the lane's pending-send rule.
        case closing
        /// Its SSH session was lost; a control connection that survives the loss waits here (client side open,
        /// filter state kept) until a session is back, then opens a new channel.
        case suspended(since: Date)
        /// A data connection whose channel was lost with its SSH session after the channel's EOF: everything the
        /// server sent is here, so it is still handed to the client, then the connection ends cleanly.
        case draining
        case done
    }

    /// Local client → channel.
    enum Upstream: Equatable {
        case flowing
        /// The client closed its sending half: flush `toChannel`, then send EOF.
        case localEnded
        case eofSent
    }

    /// Channel → local client.
    enum Downstream: Equatable {
        case flowing
        /// The channel reported EOF (or failed): flush `toLocal`, then shut the local socket's sending half.
        case channelEnded
        case localShutDown
    }

    let id: Int
    /// The local socket; -1 while `awaitingLocal`.
    private(set) var fd: Int32
    private(set) var peer: String
    private(set) var peerPort: Int
    let localPort: Int
    let target: ForwardTarget
    let filter: StreamFilter?
    let started = Date()
    var state: ChannelState = .queued
    var upstream: Upstream = .flowing
    var downstream: Downstream = .flowing
    /// The local socket failed (reset) or the channel failed: stop moving bytes and close.
    var broken = false
    var channel: (any ChannelIO)?
    /// A libssh2 write from `toChannel` is waiting for window (EAGAIN with only inbound blocked).
    var writeWaitsForWindow = false
    /// Active mode: told once whether the channel opened.
    var onChannelOpen: ((ChannelOpenOutcome) -> Void)?
    /// Active mode while connecting: the check the connection made must pass, and whom to tell when it does not.
    var activeCheck: (targetGuard: ActiveTargetGuard, refused: (String) -> Void)?
    /// The next channel that opens replaces one lost with its SSH session: the filter is told.
    var resuming = false
    /// Close the connection once everything queued for the client has been sent (a final 421).
    var closeWhenFlushed = false
    /// `DataWindow auto` on a data channel: how much receive window to grant (nil: the window is fixed).
    var receiveWindow: ReceiveWindowPolicy?
    /// An early data channel (`EarlyDataChannel yes`): opened when the server announced its passive port, before
    /// the client connected. Until `adoptLocal` there is no local socket: nothing is read, written or shut down
    /// locally, and what the server sends waits in `toLocal` (bounded) and in the channel's window.
    private(set) var awaitingLocal = false

    /// Local client → channel.
    let toChannel: ForwardBuffer
    /// Channel → local client.
    let toLocal: ForwardBuffer
    /// Filter output that did not fit into a buffer yet (rewrite mode only; bounded by the filter's own limits
    /// and by the loop reading at most `ForwardingLoop.controlReadChunk` per pass from a filtered connection).
    private(set) var toChannelOverflow: [UInt8] = []
    private(set) var toLocalOverflow: [UInt8] = []

    var bytesUp = 0 { didSet { meter?.add(bytesUp - oldValue) } }
    var bytesDown = 0 { didSet { meter?.add(bytesDown - oldValue) } }
    /// A rewrite-mode data connection's transfer meter (told every byte, and the end).
    var meter: TransferMeter?
    /// The last channel read took everything libssh2 held for the channel (it returned less than it was offered).
    var lastReadEmptiedChannel = false
    /// What the local client has consumed of `bytesDown`: minus what waits in `toLocal` and in the socket's
    /// send queue (one ioctl).
    var bytesTakenLocally: Int {
        max(0, bytesDown - toLocal.count - PosixSocket.unsentBytes(fd))
    }

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

    /// An early data channel for the passive port `localPort`: no local socket until a client connects there.
    convenience init(earlyChannelID id: Int, originator: String, localPort: Int, target: ForwardTarget, bufferSize: Int) {
        self.init(id: id, fd: -1, peer: originator, peerPort: localPort, localPort: localPort, target: target,
                  filter: nil, bufferSize: bufferSize)
        awaitingLocal = true
    }

    /// The client's connection arrived: it takes over the early channel (and whatever it already holds).
    func adoptLocal(fd: Int32, peer: String, peerPort: Int) {
        precondition(awaitingLocal && !localClosed, "only a waiting early channel adopts a connection")
        self.fd = fd
        self.peer = peer
        self.peerPort = peerPort
        awaitingLocal = false
    }

    var isOpen: Bool { state == .open }
    var isDone: Bool { state == .done }

    /// Read from the local socket: channel open, client still sending, room for it (and the filter takes input).
    var wantsLocalRead: Bool {
        isOpen && !awaitingLocal && upstream == .flowing && !broken && toChannel.hasRoom && toChannelOverflow.isEmpty
            && toLocalOverflow.isEmpty && (filter?.wantsClientBytes ?? true)
    }

    /// Write to the local socket: bytes waiting.
    var wantsLocalWrite: Bool { !awaitingLocal && !broken && !toLocal.isEmpty }

    /// Read from the channel: open, server still sending, room locally.
    var wantsChannelRead: Bool {
        isOpen && downstream == .flowing && !broken && toLocal.hasRoom && toLocalOverflow.isEmpty
            && toChannelOverflow.isEmpty && (filter?.wantsServerBytes ?? true)
    }

    /// Everything for the server has been handed to the channel: time for EOF.
    var readyForEOF: Bool {
        isOpen && upstream == .localEnded && !broken && toChannel.isEmpty && toChannelOverflow.isEmpty
            && !filterHoldsOutput
    }

    /// Everything from the server has reached the client: time to shut the local sending half. Never after a
    /// failure: a client must not mistake a cut stream for its clean end.
    var readyForLocalShutdown: Bool {
        isOpen && !awaitingLocal && !broken && downstream == .channelEnded && toLocal.isEmpty && toLocalOverflow.isEmpty
            && !filterHoldsOutput
    }

    /// Both directions finished (or something broke): time to close the channel.
    var isFinished: Bool { broken || (upstream == .eofSent && downstream == .localShutDown) }

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

    /// The channel died with its session: what was queued for it is void (the filter's keeper accounts for every
    /// command that had been handed over), and so is the per-channel flow state.
    func channelLost() {
        channel = nil
        toChannel.pinned = false
        toChannel.consumed(toChannel.count)
        toChannelOverflow.removeAll()
        writeWaitsForWindow = false
    }

    /// Everything for the client has been sent.
    var flushedToLocal: Bool { toLocal.isEmpty && toLocalOverflow.isEmpty }

    /// Moves overflow into `toChannel` when it is not pinned by a pending write.
    func refillToChannel() {
        guard !toChannelOverflow.isEmpty, !toChannel.pinned else { return }
        let taken = toChannel.append(toChannelOverflow)
        toChannelOverflow.removeFirst(taken)
    }

    func refillToLocal() {
        guard !toLocalOverflow.isEmpty else { return }
        let taken = toLocal.append(toLocalOverflow)
        toLocalOverflow.removeFirst(taken)
    }

    /// The filter holds output back: neither EOF nor shutdown may go out yet.
    var filterHoldsOutput: Bool { filter?.holdsOutput ?? false }

    /// The server's side ended (EOF or channel failure): the filter hears of it once.
    func channelEnded() {
        guard downstream == .flowing else { return }
        downstream = .channelEnded
        // Whatever the client had sent was on its way when the server's side ended: all of it and our EOF (an
        // upload), or everything read so far with the client still open (a download, TLS handshakes included).
        clientSideSettledAtServerEnd = (upstream == .eofSent && !eofFailed)
            || (upstream == .flowing && toChannel.isEmpty && toChannelOverflow.isEmpty)
        filter?.serverEnded()
    }

    // MARK: Whether a data connection's bytes arrived whole (issue 17)

    /// Sending our EOF failed (the channel was gone): an upload's end never reached the server.
    var eofFailed = false
    /// See `channelEnded`.
    private var clientSideSettledAtServerEnd = false
    /// Set once the data connection's bytes arrived whole; a data connection closed without it is reset.
    private(set) var deliveredWhole = false

    /// After a clean local shutdown: the data is whole once the channel's EOF came, every byte from the server was
    /// handed to the client's socket before its sending half was shut, and nothing from the client was left behind
    /// when the server's side ended (an upload: its bytes and EOF had gone out, so the server read it to its end).
    /// Tells the meter.
    func noteDelivery() {
        guard filter == nil, !deliveredWhole, !broken, downstream == .localShutDown, clientSideSettledAtServerEnd else { return }
        deliveredWhole = true
        meter?.deliveredWhole()
    }

    /// The local socket is closed (its number may already belong to another socket: never poll it again).
    private(set) var localClosed = false

    /// Closes the local socket once. A data connection whose bytes did not arrive whole is reset (RST), so its client
    /// sees an error, never an end of file it could take for a complete transfer.
    func closeLocal() {
        guard !localClosed else { return }
        localClosed = true
        guard fd >= 0 else { return }
        if filter == nil, !deliveredWhole { PosixSocket.setAbortiveClose(fd) }
        PosixDescriptor.close(fd)
    }
}
