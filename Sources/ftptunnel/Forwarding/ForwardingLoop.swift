import Foundation
import FTPServerKit
import Logging
import Posix
import FTPCore

/// The forwarding loop of one tunnel thread (DESIGN 3.3), in the style of OpenSSH's channels.c.
///
/// One thread owns every lane (SSH session), every channel and every local socket. Each pass:
/// 1. decides what each forward wants (read the local side only when its buffer has room, read the channel only
///    when the local buffer has room; each SSH socket in the directions libssh2 reports);
/// 2. polls local sockets, listeners, the SSH sockets and the wake-up pipe;
/// 3. moves bytes on local sockets, then lets every lane run its libssh2 calls (`SessionLane.runCalls`, where the
///    pending-send rule lives).
///
/// Data already inside libssh2 does not wake poll(): after a pass with progress, or in which libssh2 read from a
/// socket (counted by its recv callback), the next poll does not wait, so every channel is read again.
///
/// **No head-of-line blocking.** libssh2 1.10 keeps one channel open in flight per session. When a lane's open has
/// been in flight for `stallThreshold`, new connections and the ones queued behind it go to another lane — an
/// existing one or a further SSH session opened on demand (`Configuration.openLane`) — so one unreachable passive
/// port never delays other clients. Extra lanes close after `idleLaneTimeout` unused.
final class ForwardingLoop: LaneHost {
    struct Configuration {
        /// Receive window of a data channel: fixed, or where `DataWindow auto` starts.
        var dataWindow: Int
        /// `DataWindow auto`: the most one data channel is granted (nil: fixed windows).
        var dataWindowMaximum: Int? = nil
        var packetSize = ForwardingLoop.packetSize
        var bufferSize = ForwardingLoop.bufferSize
        var keepaliveInterval: Int
        var keepaliveCountMax = 3
        /// ServerAlive probes a session may send (libssh2 keeps each reply); it is replaced before they run out.
        var keepaliveProbeBudget = ServerAliveMonitor.defaultProbeLimit
        /// Rewrite mode: a data listener nobody connects to is closed after this long.
        var unusedListenerTimeout = DataListenerRegistry.defaultUnusedListenerTimeout
        /// Makes the filter of each new control connection (rewrite mode's rewriter, fixed mode's PORT guard),
        /// given the address the client connected to.
        var controlFilter: (@Sendable (ForwardingControl, SocketAddress) -> StreamFilter)?
        var bindAddress: String
        /// Ports for rewrite mode's data listeners (nil: ephemeral).
        var dataPorts: ClosedRange<Int>? = nil
        /// Opens a further SSH session for this loop (nil: not possible, e.g. keyboard-interactive logins).
        var openLane: (@Sendable () throws -> SSHSession)? = nil
        /// An open in flight this long sends later connections to another lane.
        var stallThreshold: TimeInterval = ForwardingLoop.stallThreshold
        /// An open in flight this long is given up: its client is answered, the open finishes in the background.
        var openDeadline: TimeInterval = ForwardingLoop.openDeadline
        /// Most extra lanes at once.
        var maximumExtraLanes = 4
        /// Most connections this loop carries at once; further ones are closed at accept (each holds two buffers).
        var maximumConnections = 512
        /// After the last lane is lost: reconnect (nil: the loss ends the loop, as with `Reconnect no`).
        var reconnect: ReconnectPolicy? = nil
        /// What `status` shows (nil: not kept).
        var activity: TunnelActivity? = nil
        /// Level of the per-connection lines (accepted, closed): fixed mode, where the control stream may be TLS and
        /// no transfer line can be known, shows them by default; rewrite mode logs transfers instead (-v for these).
        var connectionLogLevel: Logger.Level = .info
        /// Rewrite mode: open each passive port's channel when the listener opens (`EarlyDataChannel yes`).
        var earlyDataChannel = false
    }

    /// SSH packet size for data channels (libssh2's maximum; larger packets gain nothing).
    static let packetSize = 32768
    /// Per-direction buffer between a local socket and its channel.
    static let bufferSize = 256 << 10
    /// Per-direction buffer of a control connection (FTP commands and replies are small).
    static let controlBufferSize = 64 << 10
    /// Most bytes read at once from either side of a control connection (the filter's output per read is bounded
    /// by it: a flood of locally answered commands cannot produce more than a few times this much).
    static let controlReadChunk = 4 << 10
    static let stallThreshold: TimeInterval = 1.5
    static let openDeadline: TimeInterval = 15

    let logger: Logger
    let configuration: Configuration
    /// Listening sockets; one-shot listeners are added by `ForwardingControl` and removed after one accept.
    var listeners: [LocalListener]
    var forwards: [Forward] = []
    /// The SSH sessions and their comings and goings (head-of-line avoidance, reconnects).
    private(set) var sessions: SessionSupervisor!
    let wakeUp: WakeUpPipe
    private let shouldStop: () -> Bool
    var nextID = 1
    private var scratch = [UInt8](repeating: 0, count: ForwardingLoop.controlReadChunk)
    /// Set before `run` when this loop is one session of a pool (`Sessions N`): data connections accepted here
    /// go through the dispatcher to the least-loaded session; ones dispatched here arrive in `member`'s inbox.
    var pool: PoolLink?
    /// Rewrite mode's one-shot data listeners that have not accepted yet.
    let dataListeners: DataListenerRegistry
    /// Early data channels waiting for their listener's client (at most one per control connection).
    var earlyChannels = EarlyChannelTable()
    /// Admission of local connections and of the ones the pool dispatched here.
    private var acceptor: Acceptor!
    /// Active mode's connects to the client's own port.
    private(set) var activeConnector: ActiveConnector!

    init(session: SSHSession, listeners: [LocalListener], configuration: Configuration, wakeUp: WakeUpPipe,
         logger: Logger, shouldStop: @escaping () -> Bool) {
        self.listeners = listeners
        self.configuration = configuration
        self.wakeUp = wakeUp
        self.logger = logger
        self.shouldStop = shouldStop
        dataListeners = DataListenerRegistry(unusedListenerTimeout: configuration.unusedListenerTimeout)
        sessions = SessionSupervisor(first: session, host: self, configuration: configuration, wakeUp: wakeUp, logger: logger)
        acceptor = Acceptor(loop: self)
        activeConnector = ActiveConnector(loop: self)
    }

    private var lanes: [SessionLane] { sessions.lanes }

    /// Runs until `shouldStop()` turns true (returns) or the first lane's session fails (throws).
    func run() throws {
        sessions.poolMember = pool?.member
        sessions.reportState()
        defer { shutDown() }
        var progress = false
        var busyPasses = 0
        while !shouldStop() {
            let now = Date()
            let busy = progress || lanes.contains { $0.holdsInput }
            busyPasses = busy ? busyPasses + 1 : 0
            pollSet.rebuild(wakeFD: wakeUp.readFD, lanes: lanes, listeners: listeners,
                            includeListeners: !busy || busyPasses % Self.listenerPollInterval == 0, forwards: forwards)
            let timeout: Int32 = busy ? 0 : nextTimeout(now: now)
            let ready: Int
            do { ready = try pollSet.poll(milliseconds: timeout) } catch {
                throw TunnelError.internalFailure(error.description)
            }
            progress = try handle(ready: ready)
        }
    }

    // MARK: Pre-poll: what does everyone want?

    /// The poll set, rebuilt each pass in place (no allocation per pass).
    private var pollSet = PollSet()

    /// While the loop is busy (passes that do not wait), listening sockets are polled on every this many passes
    /// only: fixed mode listens on every port of `PassivePorts`, and polling dozens of idle listeners on each of
    /// the passes a transfer takes (about 4 500 per GiB on loopback) was 3 % of its CPU. A connection waits at most
    /// this many busy passes (well under a millisecond) to be accepted.
    static let listenerPollInterval = 16

    /// Milliseconds until something is due: a keepalive, a listener's expiry, a stall check, a connect deadline,
    /// a reconnect attempt.
    private func nextTimeout(now: Date) -> Int32 {
        var timeout = sessions.nextTimeout(now: now)
        if let expiry = dataListeners.nextExpiry { timeout = min(timeout, Self.milliseconds(until: expiry, now: now)) }
        for forward in forwards {
            if let due = forward.filter?.dueDate { timeout = min(timeout, Self.milliseconds(until: due, now: now)) }
        }
        for forward in forwards {
            if case .connectingLocally(_, let deadline) = forward.state {
                timeout = min(timeout, Self.milliseconds(until: deadline, now: now))
            }
        }
        return timeout
    }

    static func milliseconds(until date: Date, now: Date) -> Int32 {
        Int32(clamping: Int(max(0, date.timeIntervalSince(now)) * 1000) + 1)
    }

    // MARK: Post-poll

    private func handle(ready: Int) throws -> Bool {
        var progress = false
        var hungUp: [SessionLane] = []
        if ready > 0 {
            try pollSet.forEachReady { event in
                switch event {
                case .wake:
                    wakeUp.drain()
                    progress = acceptor.adoptQueued() || progress
                    progress = (pool?.deliverReports() ?? false) || progress
                    progress = try sessions.adoptOpenedLane() || progress
                case .laneHungUp(let lane):
                    hungUp.append(lane)
                case .listenerReady(let listener):
                    progress = acceptor.acceptAll(on: listener) || progress
                case .forwardReady(let forward, let revents):
                    progress = localIO(forward, revents: revents) || progress
                }
            }
        }
        let now = Date()
        progress = activeConnector.failOverdue(now: now) || progress
        for lane in lanes {
            let received = lane.session.bytesReceived
            do {
                progress = try lane.runCalls(now: now, openDeadline: configuration.openDeadline) || progress
            } catch {
                try sessions.laneLost(lane, error)
                progress = true
                continue
            }
            // libssh2 read the socket: packets for channels already visited in this pass may be queued inside it,
            // invisible to poll(). Another pass (without waiting) offers them to every channel.
            if lane.session.bytesReceived != received { progress = true }
        }
        for lane in hungUp where lanes.contains(where: { $0 === lane }) {
            // Let libssh2 consume what arrived before the close, then report the loss.
            let socketError = PosixSocket.pendingError(lane.socket)
            _ = try? lane.runCalls(now: now, openDeadline: configuration.openDeadline)
            let error: Error
            if socketError == ETIMEDOUT, configuration.keepaliveInterval > 0 {
                // TCP_USER_TIMEOUT (ServerAliveInterval × ServerAliveCountMax) expired: keepalives went unanswered.
                error = SSHError.serverNotAnswering(seconds: configuration.keepaliveInterval * max(1, configuration.keepaliveCountMax))
            } else {
                error = SSHError.sessionLost(reason: socketError == 0
                    ? "the SSH server closed the connection" : PosixError.reason(for: socketError))
            }
            try sessions.laneLost(lane, error)
            progress = true
        }
        // What the lanes' reads asked of the rewrite filters (listeners, channels, replies) runs now, outside them.
        for forward in forwards {
            if forward.filter?.runQueuedActions() == true { progress = true }
        }
        progress = sessions.rebalanceStalledLanes(now: now) || progress
        progress = try sessions.replaceSpentLanes(dataListenersOpen: dataListeners.count > 0) || progress
        sessions.driveReconnect(now: now)
        sessions.refuseOverdueWaiters(now: now)
        for forward in forwards where !forward.localClosed {
            if forward.filter?.tick(now: now) == true { progress = true }
        }
        closeFlushedForwards()
        progress = finishDrained() || progress
        sessions.closeIdleLanes(now: now)
        reapFinished()
        expireDataListeners()
        return progress
    }

    /// Connections whose last words (a 421) have reached the client are closed; an open channel is closed by
    /// its lane.
    private func closeFlushedForwards() {
        for forward in forwards where forward.closeWhenFlushed && !forward.localClosed && forward.flushedToLocal {
            if forward.handle(.abort) == .finish { finish(forward) }
        }
    }

    /// Data connections whose channel went with its session after its EOF: once everything reached the client's
    /// socket, its sending half is shut and the connection ends cleanly; a failure meanwhile resets it.
    private func finishDrained() -> Bool {
        var progress = false
        for forward in forwards where forward.state == .draining {
            if !forward.broken {
                guard forward.flushedToLocal else { continue }
                PosixSocket.shutdownWrite(forward.fd)
                forward.handle(.localShutDown)
            }
            if forward.handle(.end) == .finish { finish(forward) }
            progress = true
        }
        return progress
    }

    // MARK: Local side

    /// Local socket reads and writes (no libssh2 calls); finishes active-mode connects.
    private func localIO(_ forward: Forward, revents: Int16) -> Bool {
        if case .connectingLocally(let address, _) = forward.state {
            activeConnector.finishConnect(forward, address: address)
            return true
        }
        var progress = false
        if revents & Int16(POLLOUT | POLLERR | POLLHUP) != 0, forward.wantsLocalWrite {
            progress = writeLocal(forward) || progress
        }
        if revents & Int16(POLLIN | POLLERR | POLLHUP) != 0, forward.wantsLocalRead {
            progress = readLocal(forward) || progress
        }
        return progress
    }

    private func readLocal(_ forward: Forward) -> Bool {
        let result: IOResult<Int>
        do {
            if forward.filter != nil {
                let limit = min(scratch.count, forward.toChannel.room)
                result = try scratch.withUnsafeMutableBytes { (raw) throws(PosixError) in
                    try PosixSocket.read(forward.fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<limit]))
                }
            } else {
                result = try PosixSocket.read(forward.fd, into: forward.toChannel.writable())
            }
        } catch let error as PosixError {
            return localFailed(forward, error)
        } catch {
            return false
        }
        switch result {
        case .wouldBlock:
            return false
        case .done(0):
            forward.handle(.localEnded)
            logger.debug("local side closed its sending half", metadata: meta(forward))
            forward.filter?.clientEnded()
            return true
        case .done(let n):
            if let filter = forward.filter {
                scratch.withUnsafeBytes { filter.clientBytes(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            } else {
                forward.toChannel.produced(n)
            }
            return true
        }
    }

    /// Sends what `toLocal` holds (also called by a lane right after a channel read).
    func flushToLocal(_ forward: Forward) { _ = writeLocal(forward) }

    private func writeLocal(_ forward: Forward) -> Bool {
        do {
            switch try PosixSocket.send(forward.fd, forward.toLocal.readable) {
            case .done(let n):
                forward.toLocal.consumed(n)
                forward.refillToLocal()
                return n > 0
            case .wouldBlock:
                return false
            }
        } catch {
            return localFailed(forward, error)
        }
    }

    private func localFailed(_ forward: Forward, _ error: PosixError) -> Bool {
        forward.handle(.localFailed)
        logger.info("local connection failed: \(error.reason)", metadata: meta(forward))
        return true
    }

    // MARK: Placing active-mode connections

    /// Active-mode data connections are spread over the pool like passive ones (see `PoolLink.dispatch`).
    func assignToLaneOrPool(_ forward: Forward) {
        guard let pool else {
            forward.handle(.queued)
            sessions.assign(forward)
            return
        }
        pool.dispatch(forward, configuration: configuration) {
            // The socket now belongs to the receiving loop: this forward only leaves the list.
            forward.handle(.released)
            forwards.removeAll { $0 === forward }
        }
    }

    // MARK: Ending connections

    /// Closes the client side, tells the filter, logs the summary. The forward is done unless its open is still in
    /// flight (then the lane finishes it when libssh2 does).
    func finish(_ forward: Forward) {
        forward.handle(.localClosed)
        guard !forward.localClosed else { return }
        forward.closeLocal()
        forward.filter?.detach()
        forward.meter?.end()
        configuration.activity?.connectionClosed(control: forward.filter != nil)
        if let report = forward.onChannelOpen {
            forward.onChannelOpen = nil
            report(.failed("the connection closed before its channel opened"))
        }
        if forward.awaitingLocal {
            logger.info("early data channel to \(forward.target) closed: no client connected to port \(forward.localPort)", metadata: ["conn": "\(forward.id)"])
            return
        }
        let seconds = max(Date().timeIntervalSince(forward.started), 0.001)
        let total = Double(forward.bytesUp + forward.bytesDown)
        var metadata = meta(forward).merging([
            "up": "\(forward.bytesUp)", "down": "\(forward.bytesDown)",
            "seconds": "\(String(format: "%.3f", seconds))",
            "rate": "\(ByteRate.format(total / seconds))",
        ]) { $1 }
        // `DataWindow auto`: the largest window the transfer was granted.
        if let window = forward.receiveWindow { metadata["window"] = "\(window.largestTarget)" }
        logger.log(level: configuration.connectionLogLevel,
                   "connection closed (port \(forward.localPort): \(ByteCount.format(forward.bytesUp)) up, \(ByteCount.format(forward.bytesDown)) down, \(String(format: "%.1f", seconds)) s)",
                   metadata: metadata)
    }

    private func reapFinished() {
        pool?.releaseClosed(forwards)
        forwards.removeAll { $0.isDone }
    }

    private func expireDataListeners() {
        for listener in dataListeners.removeExpired() {
            logger.info("closing the data listener on port \(listener.port): no connection within \(Int(dataListeners.unusedListenerTimeout)) s")
            dropListener(listener)
        }
    }

    func dropListener(_ listener: LocalListener) {
        listeners.removeAll { $0 === listener }
        // No data connection came: its transfer's data cannot have arrived.
        listener.meter?.end()
        if let early = earlyChannels.take(for: listener) { abandonEarlyChannel(early) }
    }

    /// Rewrite mode, `EarlyDataChannel yes`: opens the channel to the server's passive port now, so its round trip
    /// overlaps the client's own (the server already listens). Not with a session pool (the pool places a data
    /// connection when it arrives), not for a second waiting listener of the same control connection, and never
    /// beyond `maximumConnections`.
    func openEarlyChannel(for listener: LocalListener, owner: ObjectIdentifier) {
        guard configuration.earlyDataChannel, pool == nil, !earlyChannels.has(owner: owner),
              earlyChannels.count < EarlyChannelTable.capacity,
              forwards.count < configuration.maximumConnections else { return }
        let forward = Forward(earlyChannelID: nextID, originator: listener.address, localPort: listener.port,
                              target: listener.target, bufferSize: configuration.bufferSize)
        nextID += 1
        forwards.append(forward)
        earlyChannels.add(forward, for: listener, owner: owner)
        sessions.assign(forward)
        logger.info("early data channel to \(listener.target) for port \(listener.port)", metadata: ["conn": "\(forward.id)"])
    }

    /// Closes an early channel no client took (its listener closed, or it failed before one arrived).
    func abandonEarlyChannel(_ forward: Forward) {
        guard forward.awaitingLocal else { return }
        // An open channel is closed by its lane (one in flight once libssh2 is done).
        if forward.handle(.abort) == .finish { finish(forward) }
    }

    private func shutDown() {
        pool?.close()
        for forward in forwards + sessions.shutDown() where !forward.localClosed {
            forward.handle(.released)
            forward.closeLocal()
            forward.filter?.detach()
            forward.meter?.end()
            configuration.activity?.connectionClosed(control: forward.filter != nil)
        }
        forwards.removeAll()
        earlyChannels.removeAll()
        dataListeners.removeAll()
        listeners.removeAll()
    }

    func meta(_ forward: Forward) -> Logger.Metadata {
        ["conn": "\(forward.id)", "port": "\(forward.localPort)", "peer": "\(forward.peer):\(forward.peerPort)",
         "target": "\(forward.target)"]
    }
}
