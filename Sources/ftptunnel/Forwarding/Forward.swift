import Foundation
import FTPServerKit
import Posix
import TunnelCore

/// One forwarded connection: a local socket paired with a direct-tcpip channel, a bounded buffer each way, and
/// explicit states for the channel and for each direction (in the manner of OpenSSH's istate/ostate).
///
/// **Forward owns its transitions** (as OpenSSH's nchan.c owns a channel's): the loop, the lane and the supervisor
/// send an `Event` through `handle(_:)` and execute the `Action` it returns; nothing else writes `state`, the
/// directions or the flags below. An event that does not apply to the current state changes nothing and returns
/// `.ignored` (the table in ForwardTransitionTests lists every pair). What is state lives in the state: a channel
/// that will replace a lost one is `queued`/`opening` with `resuming`, an EOF that could not be sent is
/// `Upstream.eofLost`. The flags left are orthogonal to the channel's life, each says why.
final class Forward {
    /// The channel's life, from the loop's point of view.
    enum ChannelState: Equatable {
        /// Active mode: the non-blocking connect to the client's port is in progress (finished on POLLOUT).
        case connectingLocally(SocketAddress, deadline: Date)
        /// Waiting for its lane's one open in flight; `resuming`: its channel will replace one lost with its SSH
        /// session (it was `suspended`), so the filter is told when it opens.
        case queued(resuming: Bool)
        /// The lane's open in flight; `abandoned` once its client was answered after `openDeadline`: the channel
        /// is closed as soon as the open completes. `resuming` as for `queued`.
        case opening(since: Date, abandoned: Bool, resuming: Bool)
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
        /// Our EOF could not be sent (the channel was already gone): an upload's end never reached the server.
        case eofLost

        /// Nothing more goes to the server, whether the EOF went out or not.
        var isOver: Bool { self == .eofSent || self == .eofLost }
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
    private(set) var state: ChannelState = .queued(resuming: false)
    private(set) var upstream: Upstream = .flowing
    private(set) var downstream: Downstream = .flowing
    /// The local socket failed (reset) or the channel failed: stop moving bytes and close. Not a channel state: it is
    /// how the connection ends (reset, never a clean end), and it holds across `opening`, `open`, `closing` and
    /// `draining` alike.
    private(set) var broken = false
    private(set) var channel: (any ChannelIO)?
    /// A libssh2 write from `toChannel` is waiting for window (EAGAIN with only inbound blocked). A fact about the
    /// last write call (it makes the lane read the socket for the server's window adjust), not a state.
    private(set) var writeWaitsForWindow = false
    /// Active mode: told once whether the channel opened.
    var onChannelOpen: ((ChannelOpenOutcome) -> Void)?
    /// Active mode while connecting: the check the connection made must pass, and whom to tell when it does not.
    var activeCheck: (targetGuard: ActiveTargetGuard, refused: (String) -> Void)?
    /// The next channel that opens replaces one lost with its SSH session: the filter is told (part of the state).
    var resuming: Bool {
        switch state {
        case .queued(let resuming), .opening(_, _, let resuming): return resuming
        case .connectingLocally, .open, .closing, .suspended, .draining, .done: return false
        }
    }
    /// Close the connection once everything queued for the client has been sent (a final 421). A plan for the
    /// local side, orthogonal to the channel's state (it may be open, queued or suspended meanwhile).
    private(set) var closeWhenFlushed = false
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
    /// The last channel read took everything libssh2 held for the channel (it returned less than it was offered):
    /// a fact about the last read call, for `DataWindow auto`.
    private(set) var lastReadEmptiedChannel = false
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
    var isFinished: Bool { broken || (upstream.isOver && downstream == .localShutDown) }

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
    private func channelLost() {
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
    private func channelEnded() {
        guard downstream == .flowing else { return }
        downstream = .channelEnded
        // Whatever the client had sent was on its way when the server's side ended: all of it and our EOF (an
        // upload), or everything read so far with the client still open (a download, TLS handshakes included).
        clientSideSettledAtServerEnd = upstream == .eofSent
            || (upstream == .flowing && toChannel.isEmpty && toChannelOverflow.isEmpty)
        filter?.serverEnded()
    }

    // MARK: Whether a data connection's bytes arrived whole (issue 17)

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

    // MARK: Transitions (every write of the state, the directions and the flags above happens here)

    /// What happens to a forward, sent by the loop, its lane or the supervisor.
    enum Event {
        /// Active mode: the non-blocking connect to the client's port started.
        case connectStarted(SocketAddress, deadline: Date)
        /// It waits for a lane's open: new, connected locally (active mode), or resumed after a session loss.
        case queued
        /// Its lane made it the one open in flight.
        case openStarted(Date)
        /// The open has been in flight for `openDeadline`: its client is answered now, the open finishes later.
        case openAbandoned
        /// The channel opened.
        case opened((any ChannelIO)?)
        /// The SSH server refused the channel (or the open failed at channel level).
        case refused
        /// The client closed its sending half.
        case localEnded
        /// The local socket failed.
        case localFailed
        /// A channel read returned `bytes` of the `offered` room.
        case channelRead(bytes: Int, offered: Int)
        /// A channel write took `bytes`.
        case wrote(bytes: Int)
        /// A channel write returned EAGAIN: `halfSent` (outbound blocked, the identical call follows) or out of window.
        case writeBlocked(halfSent: Bool)
        /// The channel reported EOF: the server's side is over (the filter hears of it once).
        case channelEOF
        /// A channel read failed at channel level: the server's side is over, cut.
        case channelFailed
        /// A channel write failed at channel level.
        case writeFailed
        /// Our EOF went out (`failed`: the channel was already gone).
        case eofSent(failed: Bool)
        /// Everything from the server reached the client and its sending half is shut.
        case localShutDown
        /// Both directions finished (or it broke): the channel is to be closed.
        case closeChannel
        /// close and free completed.
        case channelClosed
        /// Its SSH session was lost; `mayResume`: the loop reconnects (Reconnect yes).
        case sessionLost(now: Date, mayResume: Bool)
        /// Stop now (an early channel nobody took, final words flushed): close the channel if it has one.
        case abort
        /// Close once everything queued for the client has been sent.
        case closeAfterFlush
        /// It ends without a channel to close (connect failed, refused at admission, drained, waited too long).
        case end
        /// Its socket went to another loop, or the loop stops: nothing left to do here.
        case released
        /// `ForwardingLoop.finish` closed the local side: done, unless an open is in flight (its lane ends it).
        case localClosed
    }

    /// What the sender of an event does next.
    enum Action: Equatable {
        /// Nothing more.
        case none
        /// The event does not apply in this state: nothing changed.
        case ignored
        /// Close the local side, tell the filter, log the summary (`LaneHost.finish`).
        case finish
        /// An open given up earlier failed: leave the lane quietly (its client was already answered).
        case forget
        /// An open given up earlier completed: close the late channel at once.
        case closeLateChannel
        /// Report the open; `resumed`: the channel replaces one lost with its session (tell the filter).
        case opened(resumed: Bool)
        /// Suspended: tell the filter, wait for a session.
        case suspend
        /// Its data all arrived before the loss: hand the rest to the client, then end cleanly.
        case drain
    }

    /// Applies `event`; returns what the caller does next.
    @discardableResult
    func handle(_ event: Event) -> Action {
        switch (event, state) {
        case (_, .done) where !Self.appliesWhenDone(event):
            return .ignored

        case (.connectStarted(let address, let deadline), .queued):
            state = .connectingLocally(address, deadline: deadline)
        case (.queued, .queued):
            break
        case (.queued, .connectingLocally):
            state = .queued(resuming: false)
        case (.queued, .suspended):
            state = .queued(resuming: true)
        case (.openStarted(let now), .queued(let resuming)):
            state = .opening(since: now, abandoned: false, resuming: resuming)
        case (.openAbandoned, .opening(let since, false, let resuming)):
            state = .opening(since: since, abandoned: true, resuming: resuming)
            broken = true
            return .finish
        case (.opened(let opened), .opening(_, let abandoned, let resuming)):
            channel = opened
            if abandoned {
                state = .closing
                return .closeLateChannel
            }
            state = .open
            return .opened(resumed: resuming)
        case (.refused, .opening(_, let abandoned, _)):
            channel = nil
            state = .done
            if abandoned { return .forget }
            broken = true
            return .finish

        case (.localEnded, _) where upstream == .flowing:
            upstream = .localEnded
        case (.localFailed, _), (.writeFailed, _):
            broken = true
        case (.channelRead(let bytes, let offered), _):
            lastReadEmptiedChannel = bytes < offered
        case (.wrote(let bytes), _):
            writeWaitsForWindow = bytes == 0
        case (.writeBlocked(let halfSent), _):
            writeWaitsForWindow = !halfSent
        case (.channelEOF, _):
            channelEnded()
        case (.channelFailed, _):
            broken = true
            channelEnded()
        case (.eofSent(let failed), _) where upstream == .localEnded:
            upstream = failed ? .eofLost : .eofSent
        case (.localShutDown, _) where downstream == .channelEnded:
            downstream = .localShutDown
            noteDelivery()
        case (.closeChannel, .open):
            state = .closing
        case (.channelClosed, .closing):
            channel = nil
            return .finish

        case (.sessionLost(let now, let mayResume), _):
            if canDrain {
                channelLost()
                state = .draining
                return .drain
            }
            if mayResume, canResumeElsewhere {
                channelLost()
                state = .suspended(since: now)
                return .suspend
            }
            broken = true
            channel = nil
            state = .done
            return .finish
        case (.abort, _):
            broken = true
            switch state {
            case .open: state = .closing
            case .closing, .opening: break   // the lane closes it once libssh2 is done
            case .connectingLocally, .queued, .suspended, .draining, .done:
                state = .done
                return .finish
            }
        case (.closeAfterFlush, _):
            closeWhenFlushed = true
        case (.end, .connectingLocally), (.end, .queued), (.end, .suspended), (.end, .draining):
            state = .done
            return .finish
        case (.released, _):
            state = .done
        case (.localClosed, .opening):
            break
        case (.localClosed, _):
            state = .done

        default:
            return .ignored
        }
        return .none
    }

    /// Events that still mean something to a finished forward (what the lane and loop report about its remains).
    private static func appliesWhenDone(_ event: Event) -> Bool {
        switch event {
        case .abort, .released, .localClosed: return true
        default: return false
        }
    }

    /// A control connection whose client is still there and still talking, with a filter that can rebuild its
    /// FTP session (one being closed, or whose client has finished sending, simply ends).
    var canResumeElsewhere: Bool {
        guard !localClosed, !broken, !closeWhenFlushed, upstream == .flowing, downstream == .flowing,
              filter?.survivesSessionLoss == true else { return false }
        switch state {
        case .open, .queued, .opening(_, false, _): return true
        case .connectingLocally, .opening(_, true, _), .closing, .suspended, .draining, .done: return false
        }
    }

    /// A data connection whose channel had sent its EOF, with nothing broken: what it holds for the client is the
    /// rest of the server's data.
    private var canDrain: Bool {
        filter == nil && !localClosed && !awaitingLocal && !broken && downstream == .channelEnded && state == .open
    }
}
