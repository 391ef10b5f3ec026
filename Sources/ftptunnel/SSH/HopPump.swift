import Foundation
import Logging
import Posix

/// Owns one bastion's SSH session (ProxyJump) on a thread of its own (libssh2 is not thread-safe per session) and
/// carries every session through that bastion, each on a `direct-tcpip` channel (`HopLane`) pumped to one end of
/// a socket pair: the sessions of a pool, and reconnects while the bastion lives, share this one bastion session.
/// Other threads only ask for channels (`openChannel`), which the pump opens one at a time (libssh2 has one open
/// in flight per session). One partial packet per session (DESIGN 3.3): a call that returned EAGAIN with the
/// socket full (a channel write, a read sending a window adjustment, an open, a close) is repeated identically
/// before any other libssh2 call. The pump ends, disconnecting the bastion, when no channel and no request is left;
/// losing the bastion closes every lane, so every session through it sees its connection lost and reconnects.
/// The hop's own ServerAlive settings watch the bastion session (`ServerAliveMonitor`): a hung bastion is declared
/// lost, so reconnects do not wait on it.
final class HopPump: @unchecked Sendable {
    /// Per lane and direction: enough to keep a bastion's channel busy, small enough to be no memory concern.
    static let laneBufferCapacity = 256 << 10
    /// One channel write at most (libssh2 splits into packets of the channel's packet size anyway).
    static let writeChunk = 32 << 10
    /// Upper bound of one poll; requests and lanes ending wake it sooner.
    static let idleMilliseconds: Int32 = 5000
    /// Receive window of a jump channel: OpenSSH's own, so a bastion does not cap what the session carries.
    static let channelWindow = 2 << 20
    static let packetSize = 32768

    /// One channel asked for by another thread; the pump answers it.
    private final class OpenRequest: @unchecked Sendable {
        let host: String
        let port: Int
        let target: String
        var result: Result<Int32, Error>?
        /// The asker gave up waiting: a channel opened later is closed at once.
        var abandoned = false
        init(host: String, port: Int, target: String) {
            self.host = host
            self.port = port
            self.target = target
        }
    }

    /// A libssh2 call that returned EAGAIN with part of a packet sent; it must be repeated before any other.
    private enum Pending {
        /// A channel write of this many bytes from the head of the lane's `toChannel` (pinned).
        case write(HopLane, Int)
        /// A channel read whose window adjustment is half sent.
        case read(HopLane)
        case open
        case close(HopLane)
    }

    private let session: SSHSession
    /// `user@host:port`, for log lines.
    let name: String
    /// `host:port` of the bastion, for errors.
    let bastion: String
    private let logger: Logger
    private let wakeUp: WakeUpPipe

    // Shared with askers, under `condition`.
    private let condition = NSCondition()
    private var requests: [OpenRequest] = []
    /// Askers that will call `openChannel` (the creator holds one from the start).
    private var reservations = 1
    private var retired = false
    private var lostReason: String?
    /// Called on the pump's thread once it ended (the bastion session disconnected).
    var onEnd: (@Sendable (HopPump) -> Void)? {
        get { condition.withLock { endHandler } }
        set { condition.withLock { endHandler = newValue } }
    }
    private var endHandler: (@Sendable (HopPump) -> Void)?

    // The pump thread's own.
    private var lanes: [HopLane] = []
    private var opening: OpenRequest?
    private var pending: Pending?
    private var serverAlive: ServerAliveMonitor?

    /// `serverAlive`: the hop's ServerAliveInterval and ServerAliveCountMax (interval 0: off).
    init(session: SSHSession, name: String, bastion: String, serverAlive: (interval: Int, countMax: Int), logger: Logger) throws {
        self.session = session
        self.name = name
        self.bastion = bastion
        self.logger = logger
        wakeUp = try WakeUpPipe()
        if serverAlive.interval > 0 {
            self.serverAlive = ServerAliveMonitor(interval: serverAlive.interval, countMax: serverAlive.countMax,
                                                  now: ServerAliveMonitor.now, received: session.bytesArrived)
        }
    }

    /// Hands the session to the pump's own thread; the caller must not touch it afterwards.
    func start() {
        session.setBlocking(false)
        let thread = Thread { [self] in
            var reason = "ftptunnel: no session through this bastion is left"
            do {
                try run()
                logger.debug("bastion session no longer needed", metadata: ["hop": "\(name)"])
            } catch {
                reason = "ftptunnel: \(error)"
                logger.info("bastion session ended: \(error)", metadata: ["hop": "\(name)"])
                retire(lost: "\(error)")
            }
            for lane in lanes { lane.closeLocal() }
            session.disconnect(reason: reason)
            onEnd?(self)
        }
        thread.name = "ftptunnel hop \(name)"
        thread.start()
    }

    /// Any thread: one more `openChannel` will follow; false once the pump is ending (build a new chain then).
    func reserve() -> Bool {
        condition.withLock {
            guard !retired else { return false }
            reservations += 1
            return true
        }
    }

    /// Any thread, holding a reservation (it is used up): a channel to `host:port` and the socket a session runs
    /// on. Waits at most `timeout`; a bastion that does not answer by then is taken as lost (every session
    /// through it is ended) and the error names it.
    func openChannel(host: String, port: Int, timeout: Duration) throws -> (socket: Int32, carrier: SessionCarrier) {
        let target = "\(host.contains(":") ? "[\(host)]" : host):\(port)"
        let request = OpenRequest(host: host, port: port, target: target)
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds))
        condition.lock()
        defer { condition.unlock() }
        if retired {
            throw SSHError.sessionLost(reason: "the session to bastion \(bastion) ended (\(lostReason ?? "no channel left"))")
        }
        requests.append(request)
        wakeUp.wake()
        while request.result == nil {
            if !condition.wait(until: deadline), request.result == nil {
                request.abandoned = true
                lostReason = "no answer to a channel open within \(timeout)"
                retired = true
                wakeUp.wake()
                throw SSHError.sessionLost(reason: "bastion \(bastion) did not answer the channel open to \(target) within \(timeout.components.seconds) s; it is taken as lost and the chain is built anew")
            }
        }
        switch request.result! {
        case .success(let socket): return (socket, LaneCarrier(pump: self))
        case .failure(let error): throw error
        }
    }

    /// What a session through a lane calls once it closed its end: wakes the pump, which ends the lane.
    private final class LaneCarrier: SessionCarrier, @unchecked Sendable {
        let pump: HopPump
        init(pump: HopPump) { self.pump = pump }
        func finish() { pump.wakeUp.wake() }
    }

    private func retire(lost reason: String?) {
        condition.withLock {
            retired = true
            if let reason, lostReason == nil { lostReason = reason }
            for request in requests { request.result = .failure(SSHError.sessionLost(reason: "the session to bastion \(bastion) ended (\(reason ?? "no channel left"))")) }
            requests.removeAll()
            condition.broadcast()
        }
    }

    // MARK: The pump thread

    private func run() throws {
        while true {
            // nil: go on; "": no longer needed; else why the bastion is taken as lost.
            let stop: String? = condition.withLock {
                if retired { return lostReason ?? "" }
                if opening == nil, !requests.isEmpty { opening = requests.removeFirst() }
                if opening == nil, reservations == 0, !lanes.contains(where: { !$0.closing }) {
                    retired = true  // nobody will ask any more: the bastion session is no longer needed
                    return ""
                }
                return nil
            }
            if let stop {
                if !stop.isEmpty { throw SSHError.sessionLost(reason: stop) }
                return
            }
            var progress = true
            while progress {
                progress = false
                let received = session.bytesReceived
                if try openStep() { progress = true }
                for lane in lanes {
                    if try writeChannel(lane) { progress = true }
                    if try readChannel(lane) { progress = true }
                    if try lane.readLocal() { progress = true }
                    if try lane.writeLocal() { progress = true }
                    try settle(lane)
                    if try closeStep(lane) { progress = true }
                }
                lanes.removeAll { $0.closing && $0.closeSent && isFreed($0) }
                // Packets libssh2 took from the socket during a pass no longer wake poll(): another pass uses them.
                if session.bytesReceived != received { progress = true }
            }
            try wait(milliseconds: try checkServerAlive())
        }
    }

    /// Probes a silent bastion; throws when it stopped answering. Returns how long the next poll may wait.
    private func checkServerAlive() throws -> Int32 {
        guard var monitor = serverAlive else { return Self.idleMilliseconds }
        defer { serverAlive = monitor }
        let now = ServerAliveMonitor.now
        monitor.observe(received: session.bytesArrived, now: now)
        switch monitor.decision(now: now) {
        case .dead(let seconds):
            throw SSHError.sessionLost(reason: "bastion \(name) stopped answering: nothing came from it for \(seconds) s although it was asked (its ServerAliveInterval, ServerAliveCountMax)")
        case .probe:
            var sent = false
            if pending == nil, case .done(true) = try session.sendKeepalive() { sent = true }
            monitor.probed(sent: sent)
        case .wait:
            break
        }
        return min(Self.idleMilliseconds, monitor.pollTimeout(now: now))
    }

    private var freed = Set<ObjectIdentifier>()
    private func isFreed(_ lane: HopLane) -> Bool { freed.contains(ObjectIdentifier(lane)) }

    /// True when `pending` allows a libssh2 call that is `call` (the pending one itself, or any when none is).
    private func may(_ call: Pending) -> Bool {
        guard let pending else { return true }
        switch (pending, call) {
        case (.write(let a, _), .write(let b, _)), (.read(let a), .read(let b)), (.close(let a), .close(let b)): return a === b
        case (.open, .open): return true
        default: return false
        }
    }

    /// Works on the channel open in flight; answers its asker.
    private func openStep() throws -> Bool {
        guard let request = opening, may(.open) else { return false }
        let answer: Result<Int32, Error>
        do {
            switch try session.openDirectTCPIP(host: request.host, port: request.port, originatorHost: "127.0.0.1",
                                               originatorPort: 0, window: Self.channelWindow, packetSize: Self.packetSize) {
            case .wouldBlock:
                pending = session.blockDirections.outbound ? .open : nil
                return false
            case .done(let channel):
                let (ours, theirs) = try PosixProcess.streamPair()
                let lane = HopLane(channel: channel, local: theirs, target: request.target)
                lanes.append(lane)
                answer = .success(ours)
                logger.info("jump channel open", metadata: ["hop": "\(name)", "to": "\(request.target)"])
            }
        } catch let failure as LibSSH2Failure {
            answer = .failure(SSHError.jumpChannelRefused(bastion: bastion, target: request.target, reason: failure.message))
        }
        pending = nil
        opening = nil
        condition.withLock {
            reservations -= 1
            if request.abandoned, case .success(let socket) = answer {
                PosixDescriptor.close(socket)  // the lane sees its end closed and ends
            } else {
                request.result = answer
            }
            condition.broadcast()
        }
        return true
    }

    /// Sends what the next session wrote; an EAGAIN with the socket full keeps the same bytes pinned for the
    /// identical retry.
    private func writeChannel(_ lane: HopLane) throws -> Bool {
        guard !lane.closing, !lane.toChannel.isEmpty, may(.write(lane, 0)) else { return false }
        let length: Int
        if case .write(_, let pinned) = pending { length = pinned } else { length = min(lane.toChannel.count, Self.writeChunk) }
        switch try lane.channel.write(UnsafeRawBufferPointer(rebasing: lane.toChannel.readable[0..<length])) {
        case .done(let n):
            pending = nil
            lane.toChannel.pinned = false
            lane.toChannel.consumed(n)
            return n > 0
        case .wouldBlock:
            if session.blockDirections.outbound {
                pending = .write(lane, length)
                lane.toChannel.pinned = true
            }
            return false
        }
    }

    /// Reads the channel while the local side has room (repeated, even without room, while a window adjustment
    /// it sends is half sent).
    private func readChannel(_ lane: HopLane) throws -> Bool {
        guard !lane.closing, may(.read(lane)) else { return false }
        if pending == nil, !lane.toLocal.hasRoom { return false }
        switch try lane.channel.read(into: lane.toLocal.writable()) {
        case .done(let n):
            pending = nil
            lane.toLocal.produced(n)
            return n > 0
        case .wouldBlock:
            pending = session.blockDirections.outbound ? .read(lane) : nil
            return false
        }
    }

    /// Ends a lane whose next session left (everything it wrote sent) or whose target closed the channel
    /// (everything it sent delivered).
    private func settle(_ lane: HopLane) throws {
        guard !lane.closing else { return }
        switch pending {
        case .write(let pinned, _) where pinned === lane, .read(let pinned) where pinned === lane: return
        default: break
        }
        if lane.localEOF, lane.toChannel.isEmpty {
            lane.end()
        } else if lane.channel.isEOF, lane.toLocal.isEmpty, !lane.channel.hasQueuedData {
            logger.debug("the channel through the bastion was closed", metadata: ["hop": "\(name)", "to": "\(lane.target)"])
            lane.end()
        }
    }

    /// Closes, then frees, the channel of an ended lane.
    private func closeStep(_ lane: HopLane) throws -> Bool {
        guard lane.closing, !isFreed(lane), may(.close(lane)) else { return false }
        if !lane.closeSent {
            switch try lane.channel.close() {
            case .done: lane.closeSent = true
            case .wouldBlock:
                pending = session.blockDirections.outbound ? .close(lane) : nil
                return false
            }
        }
        pending = nil
        if case .done = try lane.channel.free() { freed.insert(ObjectIdentifier(lane)) }
        return true
    }

    /// Polls the wake-up pipe, the lanes' ends and the bastion's socket in the directions each can use now.
    private func wait(milliseconds: Int32) throws {
        var sshEvents: Int16 = 0
        let lanesWithRoom = lanes.isEmpty || lanes.contains { $0.closing || $0.toLocal.hasRoom }
        if pending == nil, lanesWithRoom || opening != nil { sshEvents |= Int16(POLLIN) }
        if session.blockDirections.outbound || pending != nil { sshEvents |= Int16(POLLOUT) }
        var fds = [pollfd(fd: wakeUp.readFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: session.socket, events: sshEvents, revents: 0)]
        for lane in lanes where lane.local >= 0 { fds.append(pollfd(fd: lane.local, events: lane.localEvents, revents: 0)) }
        _ = try PosixPoll.poll(&fds, milliseconds: milliseconds)
        if fds[0].revents != 0 { wakeUp.drain() }
        if fds[1].revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0, fds[1].revents & Int16(POLLIN) == 0 {
            throw SSHError.sessionLost(reason: "the connection to bastion \(name) was closed")
        }
    }
}
