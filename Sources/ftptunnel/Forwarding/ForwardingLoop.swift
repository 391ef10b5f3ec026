import Foundation
import Logging
import Posix
import Shared

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
        var dataWindow: Int
        var packetSize = ForwardingLoop.packetSize
        var bufferSize = ForwardingLoop.bufferSize
        var keepaliveInterval: Int
        var keepaliveCountMax = 3
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
    }

    /// SSH packet size for data channels (libssh2's maximum; larger packets gain nothing).
    static let packetSize = 32768
    /// Per-direction buffer between a local socket and its channel.
    static let bufferSize = 256 << 10
    /// Per-direction buffer of a control connection (FTP commands and replies are small).
    static let controlBufferSize = 64 << 10
    /// Most bytes read at once from either side of a control connection (the filter's output per read is bounded
    /// by it: a flood of locally answered commands cannot produce more than a few times this much).
    static let controlReadChunk = 16 << 10
    static let stallThreshold: TimeInterval = 1.5
    static let openDeadline: TimeInterval = 15
    static let idleLaneTimeout: TimeInterval = 30
    /// After a failed attempt to open an extra lane, none is tried for this long.
    static let laneRetryDelay: TimeInterval = 10
    /// Longest wait for a non-blocking connect to a client's active-mode port on loopback.
    static let activeConnectTimeout: TimeInterval = 3

    let logger: Logger
    let configuration: Configuration
    /// Listening sockets; one-shot listeners are added by `ForwardingControl` and removed after one accept.
    var listeners: [LocalListener]
    var forwards: [Forward] = []
    /// Lane 1 first; its loss ends the loop.
    private(set) var lanes: [SessionLane] = []
    private let laneOpener: LaneOpener?
    /// Connections waiting for a lane being opened.
    private var waitingForLane: [Forward] = []
    private var noLaneBefore = Date.distantPast
    private var nextLaneNumber = 2
    private let wakeUp: WakeUpPipe
    private let shouldStop: () -> Bool
    var nextID = 1
    private var scratch = [UInt8](repeating: 0, count: ForwardingLoop.controlReadChunk)
    /// Set before `run` when this loop is one session of a pool (`Sessions N`): data connections accepted here
    /// go through the dispatcher to the least-loaded session; ones dispatched here arrive in `member`'s inbox.
    var pool: (member: PoolMember, dispatcher: ConnectionDispatcher)?
    /// Forwards counted in `pool.member`'s load.
    private var pooledForwards = Set<Int>()
    /// Rewrite mode's one-shot data listeners that have not accepted yet.
    let dataListeners = DataListenerRegistry()
    /// `maximumConnections` reached: logged once until a connection is accepted again.
    private var refusingConnections = false
    /// Set while no lane is left and the loop reconnects.
    private var reconnecting: ReconnectSchedule?
    /// Control connections waiting for their session to come back.
    private var suspended: [Forward] = []
    /// Connections queued while no session exists, with the time they arrived.
    private var arrivedWhileDisconnected: [ObjectIdentifier: Date] = [:]

    init(session: SSHSession, listeners: [LocalListener], configuration: Configuration, wakeUp: WakeUpPipe,
         logger: Logger, shouldStop: @escaping () -> Bool) {
        self.listeners = listeners
        self.configuration = configuration
        self.wakeUp = wakeUp
        self.logger = logger
        self.shouldStop = shouldStop
        laneOpener = configuration.openLane.map { LaneOpener(wakeUp: wakeUp, connect: $0) }
        lanes = [makeLane(number: 1, session: session)]
    }

    private func makeLane(number: Int, session: SSHSession) -> SessionLane {
        var laneLogger = logger
        if number > 1 { laneLogger[metadataKey: "lane"] = "\(number)" }
        return SessionLane(number: number, session: session, host: self, logger: laneLogger,
                           window: configuration.dataWindow, packetSize: configuration.packetSize,
                           keepaliveInterval: configuration.keepaliveInterval)
    }

    /// Runs until `shouldStop()` turns true (returns) or the first lane's session fails (throws).
    func run() throws {
        defer { shutDown() }
        var progress = false
        while !shouldStop() {
            let now = Date()
            buildPollSet()
            let holdsInput = lanes.contains { $0.holdsInput }
            let timeout: Int32 = progress || holdsInput ? 0 : nextTimeout(now: now)
            let ready: Int
            do { ready = try PosixPoll.poll(&fds, milliseconds: timeout) } catch {
                throw TunnelError.internalFailure(error.description)
            }
            progress = try handle(ready: ready)
        }
    }

    // MARK: Pre-poll: what does everyone want?

    private enum Slot { case wake, lane(SessionLane), listener(LocalListener), forward(Forward) }
    private var slots: [Slot] = []
    /// The poll set, rebuilt each pass in place (no allocation per pass).
    private var fds: [pollfd] = []

    private func buildPollSet() {
        fds.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        fds.append(pollfd(fd: wakeUp.readFD, events: Int16(POLLIN), revents: 0)); slots.append(.wake)
        for lane in lanes {
            fds.append(pollfd(fd: lane.socket, events: PosixPoll.readHangUp | lane.pollEvents, revents: 0))
            slots.append(.lane(lane))
        }
        for listener in listeners where listener.isListening {
            fds.append(pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)); slots.append(.listener(listener))
        }
        for forward in forwards where !forward.isDone && !forward.localClosed {
            var events: Int16 = 0
            if case .connectingLocally = forward.state { events |= Int16(POLLOUT) }
            if forward.wantsLocalRead { events |= Int16(POLLIN) }
            if forward.wantsLocalWrite { events |= Int16(POLLOUT) }
            // A socket nobody wants to touch is left out (fd -1): a pending hang-up must not wake poll() in a loop.
            fds.append(pollfd(fd: events == 0 ? -1 : forward.fd, events: events, revents: 0)); slots.append(.forward(forward))
        }
    }

    /// Milliseconds until something is due: a keepalive, a listener's expiry, a stall check, a connect deadline.
    private func nextTimeout(now: Date) -> Int32 {
        var timeout = lanes.map { $0.keepaliveTimeout(now: now) }.min() ?? Int32.max
        if let expiry = dataListeners.nextExpiry { timeout = min(timeout, Self.milliseconds(until: expiry, now: now)) }
        for lane in lanes {
            guard let since = lane.stalledSince() else { continue }
            let stallCheck = since.addingTimeInterval(configuration.stallThreshold)
            let deadline = since.addingTimeInterval(configuration.openDeadline)
            timeout = min(timeout, Self.milliseconds(until: stallCheck > now ? stallCheck : deadline, now: now))
        }
        for forward in forwards {
            if case .connectingLocally(_, let deadline) = forward.state {
                timeout = min(timeout, Self.milliseconds(until: deadline, now: now))
            }
        }
        if lanes.count > 1 { timeout = min(timeout, Int32(Self.idleLaneTimeout * 1000)) }
        if let schedule = reconnecting {
            if let due = schedule.nextAttempt { timeout = min(timeout, Self.milliseconds(until: due, now: now)) }
            // Waiting clients and suspended sessions are checked against their limits once a second.
            timeout = min(timeout, 1000)
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
            for (index, fd) in fds.enumerated() where fd.revents != 0 {
                switch slots[index] {
                case .wake:
                    wakeUp.drain()
                    progress = adoptQueued() || progress
                    progress = try adoptOpenedLane() || progress
                case .lane(let lane):
                    if fd.revents & (PosixPoll.readHangUp | Int16(POLLHUP | POLLERR)) != 0 { hungUp.append(lane) }
                case .listener(let listener):
                    progress = acceptAll(on: listener) || progress
                case .forward(let forward):
                    progress = localIO(forward, revents: fd.revents) || progress
                }
            }
        }
        let now = Date()
        progress = finishOverdueConnects(now: now) || progress
        for lane in lanes {
            let received = lane.session.bytesReceived
            do {
                progress = try lane.runCalls(now: now, openDeadline: configuration.openDeadline) || progress
            } catch {
                try laneLost(lane, error)
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
                error = SSHError.serverNotAnswering(seconds: configuration.keepaliveInterval * configuration.keepaliveCountMax)
            } else {
                error = SSHError.sessionLost(reason: socketError == 0
                    ? "the SSH server closed the connection" : String(cString: strerror(socketError)))
            }
            try laneLost(lane, error)
            progress = true
        }
        progress = rebalanceStalledLanes(now: now) || progress
        driveReconnect(now: now)
        refuseOverdueWaiters(now: now)
        closeFlushedForwards()
        closeIdleLanes(now: now)
        reapFinished()
        expireDataListeners()
        return progress
    }

    /// A lost lane ends the data connections on it; control connections that can survive (rewrite mode with
    /// Reconnect) are suspended. Without another lane the loop reconnects, or — with `Reconnect no`, or when no
    /// further session can be opened without asking again — the loss ends the loop (thrown).
    private func laneLost(_ lane: SessionLane, _ error: Error) throws {
        let lastLane = lanes.count == 1
        if lastLane && (configuration.reconnect == nil || laneOpener == nil) { throw error }
        lanes.removeAll { $0 === lane }
        lane.logSummary()
        let now = Date()
        var kept = 0
        for forward in lane.abandonAll() {
            if configuration.reconnect != nil, !forward.localClosed, forward.filter?.survivesSessionLoss == true {
                forward.channelLost()
                forward.state = .suspended(since: now)
                forward.resuming = true
                forward.filter?.sessionLost()
                suspended.append(forward)
                kept += 1
            } else {
                forward.broken = true
                forward.channel = nil
                forward.state = .done
                finish(forward)
            }
        }
        if lastLane, let policy = configuration.reconnect {
            let schedule = ReconnectSchedule(policy: policy, lostAt: now, random: Double.random(in: 0...1))
            reconnecting = schedule
            pool?.member.isConnected = false
            logger.notice("\(error); reconnecting in \(String(format: "%.1f", schedule.firstDelay)) s — listeners stay open\(kept > 0 ? ", \(kept) FTP session(s) will resume" : "")")
        } else {
            logger.warning("SSH session \(lane.number) lost (\(error)); its data connections are closed, the tunnel stays up\(kept > 0 ? ", \(kept) FTP session(s) resume on another session" : "")")
            resumeSuspended(now: now)
        }
    }

    /// Suspended control connections open new channels once a lane exists.
    private func resumeSuspended(now: Date) {
        guard !lanes.isEmpty, !suspended.isEmpty else { return }
        let waiting = suspended
        suspended.removeAll()
        for forward in waiting where !forward.localClosed { assign(forward, now: now) }
    }

    // MARK: Reconnecting

    /// Starts the next attempt when it is due.
    private func driveReconnect(now: Date) {
        guard laneOpener?.isBusy == false, reconnecting?.startAttemptIfDue(now: now) == true else { return }
        if let failures = reconnecting?.failures, failures > 0 { logger.notice("reconnecting (attempt \(failures + 1))") }
        laneOpener?.request()
    }

    private func reconnected(_ lane: SessionLane, now: Date) {
        guard let schedule = reconnecting else { return }
        reconnecting = nil
        pool?.member.isConnected = true
        let resuming = suspended.count
        logger.notice("reconnected after \(String(format: "%.1f", schedule.downtime(now: now))) s\(resuming > 0 ? "; resuming \(resuming) FTP session(s)" : "")")
        resumeSuspended(now: now)
    }

    /// A reconnect attempt failed: try again later, or give up (thrown) for good reasons.
    private func reconnectFailed(_ error: Error, now: Date) throws {
        guard var schedule = reconnecting else { return }
        let verdict = schedule.attemptFailed(error, now: now, random: Double.random(in: 0...1))
        reconnecting = schedule
        switch verdict {
        case .fatal:
            throw error
        case .giveUp:
            logger.error("giving up after \(schedule.failures) failed reconnect attempt(s) (ReconnectAttempts)")
            throw error
        case .retry(let delay):
            logger.notice("reconnect attempt \(schedule.failures) failed (\(error)); next in \(String(format: "%.1f", delay)) s")
        }
    }

    /// Connections that waited too long for a session: a control connection is told 421, a data connection closed.
    private func refuseOverdueWaiters(now: Date) {
        guard let policy = configuration.reconnect else { return }
        for forward in waitingForLane where reconnecting != nil {
            guard let arrived = arrivedWhileDisconnected[ObjectIdentifier(forward)],
                  now.timeIntervalSince(arrived) >= policy.waitForSession else { continue }
            refuse(forward, reason: "421 The tunnel's SSH session is reconnecting; try again shortly.")
        }
        for forward in suspended {
            guard case .suspended(let since) = forward.state, now.timeIntervalSince(since) >= policy.suspendedLimit else { continue }
            refuse(forward, reason: "421 The tunnel could not get its SSH session back within \(Int(policy.suspendedLimit)) s; closing.")
        }
        waitingForLane.removeAll { $0.isDone || $0.closeWhenFlushed }
        suspended.removeAll { $0.isDone || $0.closeWhenFlushed }
    }

    private func refuse(_ forward: Forward, reason: String) {
        arrivedWhileDisconnected[ObjectIdentifier(forward)] = nil
        if forward.filter != nil {
            forward.queueToLocal(Array(reason.utf8) + [13, 10])
            forward.closeWhenFlushed = true
        } else {
            forward.state = .done
            finish(forward)
        }
    }

    /// Connections whose last words (a 421) have reached the client are closed; an open channel is closed by
    /// its lane.
    private func closeFlushedForwards() {
        for forward in forwards where forward.closeWhenFlushed && !forward.localClosed && forward.flushedToLocal {
            forward.broken = true
            switch forward.state {
            case .open: forward.state = .closing
            case .closing, .opening: break
            case .connectingLocally, .queued, .suspended, .done:
                forward.state = .done
                finish(forward)
            }
        }
    }

    // MARK: Lanes

    /// Picks the lane for a new channel: the first lane whose open is not stalled; when every lane is stalled,
    /// nil (the caller waits for a new lane) if one can be opened, else lane 1.
    private func laneForNewChannel(now: Date) -> SessionLane? {
        if let lane = lanes.first(where: { !isStalled($0, now: now) }) { return lane }
        return canOpenLane(now: now) ? nil : lanes[0]
    }

    private func isStalled(_ lane: SessionLane, now: Date) -> Bool {
        guard let since = lane.stalledSince() else { return false }
        return now.timeIntervalSince(since) >= configuration.stallThreshold
    }

    private func canOpenLane(now: Date) -> Bool {
        laneOpener != nil && lanes.count - 1 < configuration.maximumExtraLanes && now >= noLaneBefore
    }

    /// Queues `forward` for its channel on a lane that is not stuck (or waits for a new one).
    func assign(_ forward: Forward, now: Date = Date()) {
        if lanes.isEmpty {
            forward.state = .queued
            waitingForLane.append(forward)
            arrivedWhileDisconnected[ObjectIdentifier(forward)] = now
            return
        }
        if let lane = laneForNewChannel(now: now) {
            lane.enqueueOpen(forward)
            return
        }
        forward.state = .queued
        waitingForLane.append(forward)
        if laneOpener?.isBusy == false {
            logger.info("every SSH session has a channel open that the server has not answered for \(String(format: "%.1f", configuration.stallThreshold)) s; opening another session so other connections do not wait")
            laneOpener?.request()
        }
    }

    /// Moves the opens queued behind a stalled open to a lane that is not stuck.
    private func rebalanceStalledLanes(now: Date) -> Bool {
        var moved = false
        for lane in lanes where lane.queuedOpens > 0 && isStalled(lane, now: now) {
            guard laneForNewChannel(now: now) !== lane else { continue }
            for forward in lane.takeQueuedOpens() { assign(forward, now: now) }
            moved = true
        }
        return moved
    }

    /// A session the opener finished: it becomes a lane and takes the waiting connections.
    private func adoptOpenedLane() throws -> Bool {
        guard let outcome = laneOpener?.take() else { return false }
        let waiting = waitingForLane
        waitingForLane.removeAll()
        let now = Date()
        switch outcome {
        case .opened(let session):
            let lane = makeLane(number: nextLaneNumber, session: session)
            nextLaneNumber += 1
            lanes.append(lane)
            if reconnecting != nil {
                reconnected(lane, now: now)
            } else {
                logger.info("extra SSH session \(lane.number) ready; \(waiting.count) waiting connection(s) continue on it")
            }
            for forward in waiting where !forward.isDone {
                arrivedWhileDisconnected[ObjectIdentifier(forward)] = nil
                lane.enqueueOpen(forward)
            }
        case .failed(let error) where reconnecting != nil:
            waitingForLane = waiting
            try reconnectFailed(error, now: now)
        case .failed(let error):
            noLaneBefore = Date().addingTimeInterval(Self.laneRetryDelay)
            logger.warning("could not open another SSH session (\(error)); waiting connections stay behind the stalled channel open")
            for forward in waiting where !forward.isDone { lanes[0].enqueueOpen(forward) }
        }
        return true
    }

    private func closeIdleLanes(now: Date) {
        guard lanes.count > 1 else { return }
        for lane in lanes.dropFirst() where lanes.count > 1 {
            guard let idle = lane.idleSince, now.timeIntervalSince(idle) >= Self.idleLaneTimeout else { continue }
            lanes.removeAll { $0 === lane }
            lane.logSummary()
            logger.info("extra SSH session \(lane.number) closed after \(Int(Self.idleLaneTimeout)) s unused")
            lane.session.disconnect(reason: "ftptunnel: session no longer needed")
        }
    }

    // MARK: Local side

    private func acceptAll(on listener: LocalListener) -> Bool {
        var accepted = false
        while let client = listener.accept() {
            accepted = true
            if forwards.count >= configuration.maximumConnections {
                close(client.fd)
                if !refusingConnections {
                    logger.warning("\(forwards.count) connections are open, the most this tunnel carries at once; closing new ones until some finish")
                }
                refusingConnections = true
                continue
            }
            refusingConnections = false
            if !listener.isControl, let pool {
                pool.dispatcher.dispatch(AdoptedConnection(fd: client.fd, peer: client.peer, peerPort: client.peerPort,
                                                           localPort: listener.port, target: listener.target))
                logger.debug("data connection handed to the session pool", metadata: ["port": "\(listener.port)", "peer": "\(client.peer):\(client.peerPort)"])
            } else {
                let filter = listener.isControl
                    ? configuration.controlFilter?(self, PosixSocket.localAddress(client.fd) ?? listener.local) : nil
                let forward = Forward(id: nextID, fd: client.fd, peer: client.peer, peerPort: client.peerPort,
                                      localPort: listener.port, target: listener.target, filter: filter,
                                      bufferSize: listener.isControl ? Self.controlBufferSize : configuration.bufferSize)
                forward.filter?.attach(to: forward)
                nextID += 1
                forwards.append(forward)
                assign(forward)
                logger.info("connection accepted", metadata: meta(forward))
            }
            if listener.oneShot {
                dataListeners.forget(listener)
                listeners.removeAll { $0 === listener }
                break
            }
        }
        return accepted
    }

    /// Opens channels for the data connections the dispatcher queued for this loop.
    private func adoptQueued() -> Bool {
        guard let pool else { return false }
        let connections = pool.member.takeQueued()
        for connection in connections {
            let forward = Forward(id: nextID, fd: connection.fd, peer: connection.peer, peerPort: connection.peerPort,
                                  localPort: connection.localPort, target: connection.target, filter: nil,
                                  bufferSize: configuration.bufferSize)
            nextID += 1
            forwards.append(forward)
            pooledForwards.insert(forward.id)
            assign(forward)
            logger.info("connection accepted", metadata: meta(forward))
        }
        return !connections.isEmpty
    }

    /// Local socket reads and writes (no libssh2 calls); finishes active-mode connects.
    private func localIO(_ forward: Forward, revents: Int16) -> Bool {
        if case .connectingLocally(let address, _) = forward.state {
            finishLocalConnect(forward, address: address)
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
            forward.upstream = .localEnded
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
        forward.broken = true
        logger.info("local connection failed: \(error.reason)", metadata: meta(forward))
        return true
    }

    // MARK: Active mode (connects to the client's port, finished on POLLOUT like OpenSSH's SSH_CHANNEL_CONNECTING)

    /// Starts the connect to an active-mode client's loopback port; its channel is opened once it is connected.
    func startActiveConnection(client: ForwardTarget, target: ForwardTarget, completion: @escaping (String?) -> Void) {
        let started: (fd: Int32, address: SocketAddress, connected: Bool)
        do {
            started = try LoopbackConnector.start(host: client.host, port: client.port)
        } catch {
            completion("\(error)")
            return
        }
        let forward = Forward(id: nextID, fd: started.fd, peer: client.host, peerPort: client.port, localPort: client.port,
                              target: target, filter: nil, bufferSize: configuration.bufferSize)
        forward.onChannelOpen = completion
        nextID += 1
        forwards.append(forward)
        logger.info("active-mode data connection to \(client)", metadata: meta(forward))
        if started.connected {
            assignToLaneOrPool(forward)
        } else {
            forward.state = .connectingLocally(started.address, deadline: Date().addingTimeInterval(Self.activeConnectTimeout))
        }
    }

    private func finishLocalConnect(_ forward: Forward, address: SocketAddress) {
        if let failure = LoopbackConnector.finish(fd: forward.fd, address: address) {
            failConnect(forward, reason: "\(failure)")
        } else {
            assignToLaneOrPool(forward)
        }
    }

    private func finishOverdueConnects(now: Date) -> Bool {
        var progress = false
        for forward in forwards {
            guard case .connectingLocally(let address, let deadline) = forward.state, now >= deadline else { continue }
            failConnect(forward, reason: "\(DataConnectionError.clientUnreachable(address: "\(address)", reason: "no answer within \(Int(Self.activeConnectTimeout)) s"))")
            progress = true
        }
        return progress
    }

    private func failConnect(_ forward: Forward, reason: String) {
        let report = forward.onChannelOpen
        forward.onChannelOpen = nil
        forward.state = .done
        finish(forward)
        report?(reason)
    }

    /// Active-mode data connections are spread over the pool like passive ones (the channel-open report goes with
    /// them only when they stay on this loop: another loop cannot call back into this filter).
    private func assignToLaneOrPool(_ forward: Forward) {
        forward.state = .queued
        assign(forward)
    }

    // MARK: Ending connections

    /// Closes the client side, tells the filter, logs the summary. The forward is done unless its open is still in
    /// flight (then the lane finishes it when libssh2 does).
    func finish(_ forward: Forward) {
        if case .opening = forward.state {} else { forward.state = .done }
        guard !forward.localClosed else { return }
        forward.closeLocal()
        forward.filter?.detach()
        if let report = forward.onChannelOpen {
            forward.onChannelOpen = nil
            report("the connection closed before its channel opened")
        }
        let seconds = max(Date().timeIntervalSince(forward.started), 0.001)
        let total = Double(forward.bytesUp + forward.bytesDown)
        logger.info("connection closed", metadata: meta(forward).merging([
            "up": "\(forward.bytesUp)", "down": "\(forward.bytesDown)",
            "seconds": "\(String(format: "%.3f", seconds))",
            "rate": "\(ByteRate.format(total / seconds))",
        ]) { $1 })
    }

    private func reapFinished() {
        if !pooledForwards.isEmpty {
            for forward in forwards where forward.localClosed && pooledForwards.remove(forward.id) != nil {
                pool?.member.release()
            }
        }
        forwards.removeAll { $0.isDone }
    }

    private func expireDataListeners() {
        for listener in dataListeners.removeExpired() {
            logger.info("closing the data listener on port \(listener.port): no connection within \(Int(DataListenerRegistry.unusedListenerTimeout)) s")
            dropListener(listener)
        }
    }

    func dropListener(_ listener: LocalListener) {
        listeners.removeAll { $0 === listener }
    }

    private func shutDown() {
        pool?.member.close()
        pooledForwards.removeAll()
        for lane in lanes {
            lane.logSummary()
            _ = lane.abandonAll()
        }
        for forward in forwards + waitingForLane + suspended where !forward.localClosed {
            forward.state = .done
            forward.closeLocal()
            forward.filter?.detach()
        }
        forwards.removeAll()
        waitingForLane.removeAll()
        suspended.removeAll()
        dataListeners.removeAll()
        listeners.removeAll()
        for lane in lanes.dropFirst() { lane.session.disconnect(reason: "ftptunnel stopped") }
        lanes.removeAll()
    }

    func meta(_ forward: Forward) -> Logger.Metadata {
        ["conn": "\(forward.id)", "port": "\(forward.localPort)", "peer": "\(forward.peer):\(forward.peerPort)",
         "target": "\(forward.target)"]
    }
}
