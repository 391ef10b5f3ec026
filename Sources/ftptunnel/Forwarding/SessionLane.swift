import Foundation
import Logging
import Posix
import TunnelCore

/// What a lane needs from the loop that drives it (same thread).
protocol LaneHost: AnyObject {
    /// Hands bytes just read from a channel to the local socket at once (no libssh2 call).
    func flushToLocal(_ forward: Forward)
    /// The forward is over: close its local socket, tell its filter, log the summary line.
    func finish(_ forward: Forward)
}

/// One SSH session and the channels on it, driven by the forwarding loop's thread (DESIGN 3.3).
///
/// **Pending-send rule.** When a libssh2 call returns EAGAIN with the outbound direction blocked, a packet is half
/// sent. That exact call (same channel, same buffer and length) is the only libssh2 call on this session that may
/// send until it completes: `pending` holds it, `runCalls` retries it first and returns while it is still blocked.
/// Calls that send tiny packets built on libssh2's stack (send_eof, keepalive) are made only when the socket is
/// writable and always from the same frame, so a retry presents the same packet. Every call goes through
/// `attempt`, the one classifier: channel-level failures end that forward, anything else ends the session.
///
/// **One open in flight.** libssh2 1.10 keeps one channel open in progress per session; a slow open (the SSH
/// server's connect to a black-holed port can take two minutes) blocks every later one. The lane reports such a
/// stall (`stalledSince`) so the loop can move the queue behind it to another lane, and answers the stuck open's
/// client after `openDeadline` while the open itself finishes in the background (then its channel is closed).
final class SessionLane {
    enum PendingSend {
        case open(Forward)
        case read(Forward)
        case write(Forward, length: Int)
        case sendEOF(Forward)
        case close(Forward)
        case keepalive
        case grantWindow(Forward, bytes: Int)
        case drain(Forward)
    }

    /// 1 for the lane the loop started with; further lanes are opened on demand.
    let number: Int
    /// `SSHSession` in the product; the lane's unit tests drive it with a scripted fake.
    let session: any SessionIO
    private unowned let host: LaneHost
    private let logger: Logger
    /// Data channels' receive windows: the one they open with, and `DataWindow auto`'s grants.
    private var windowGrowth: LaneWindowGrowth
    private let packetSize: Int

    private var pending: PendingSend?
    private var openQueue: [Forward] = []
    private(set) var opening: Forward?
    /// Forwards whose channels live here (open or closing), in arrival order.
    private(set) var forwards: [Forward] = []
    /// ServerAliveInterval/ServerAliveCountMax and the session's probe budget.
    private var aliveCheck: LaneAliveCheck
    /// ServerAlive's budget is nearly spent: the supervisor replaces this session once nothing runs on it.
    var wantsReplacement: Bool { aliveCheck.wantsReplacement }
    /// ServerAlive probes sent on this session (each leaves a reply inside libssh2).
    var probesSent: Int { aliveCheck.probesSent }
    /// How often a sending call left a packet half sent (and was retried before any other send).
    private(set) var partialPacketRetries = 0
    /// Forwards whose channel's EOF a drain has already brought in (a drain through them would read nothing).
    private var drainedToEOF = Set<Int>()
    /// When the lane last had no channel and no open: idle extra lanes are closed after a while.
    private(set) var idleSince: Date? = Date()

    /// Where control-channel reads land before the filter takes them (at most `ForwardingLoop.controlReadChunk`).
    private let controlScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: ForwardingLoop.controlReadChunk, alignment: 16)

    deinit { controlScratch.deallocate() }

    /// Longest chunk handed to one libssh2_channel_write (it sends at most one packet per call anyway).
    static let maximumWrite = 64 << 10

    /// Inside `runCalls`: no channel open may be queued on this lane then (the rewrite filters' actions wait for
    /// the loop); checked in debug builds.
    private var runningCalls = false

    /// Receive window of control channels (commands and replies are small).
    static let controlWindow = 256 << 10

    init(number: Int, session: any SessionIO, host: LaneHost, logger: Logger, window: Int, windowMaximum: Int?,
         packetSize: Int, keepaliveInterval: Int, keepaliveCountMax: Int,
         probeBudget: Int = ServerAliveMonitor.defaultProbeLimit) {
        self.number = number
        self.session = session
        self.host = host
        self.logger = logger
        windowGrowth = LaneWindowGrowth(window: window, maximum: windowMaximum, logger: logger)
        self.packetSize = packetSize
        session.setBlocking(false)
        if keepaliveInterval > 0 { session.configureProbes() }
        aliveCheck = LaneAliveCheck(interval: keepaliveInterval, countMax: keepaliveCountMax, probeBudget: probeBudget,
                                    received: session.bytesArrived, logger: logger)
    }

    var socket: Int32 { session.socket }

    // MARK: Queue

    func enqueueOpen(_ forward: Forward) {
        assert(!runningCalls, "a channel open was queued on lane \(number) from inside its own calls")
        forward.handle(.queued)
        openQueue.append(forward)
        forwards.append(forward)
        idleSince = nil
    }

    /// Queued (not yet in flight) opens, removed from this lane so another can take them.
    func takeQueuedOpens() -> [Forward] {
        let taken = openQueue
        openQueue.removeAll()
        forwards.removeAll { forward in taken.contains { $0 === forward } }
        return taken
    }

    var queuedOpens: Int { openQueue.count }

    /// Nothing in flight on this session (no open, no half-sent packet) and every forward on it passes `movable`:
    /// ending it now goes unnoticed.
    func isQuiet(_ movable: (Forward) -> Bool) -> Bool {
        pending == nil && opening == nil && openQueue.isEmpty && forwards.allSatisfy(movable)
    }

    /// The open in flight has not completed for this long (nil: none in flight).
    func stalledSince() -> Date? {
        guard case .opening(let since, _, _)? = opening?.state else { return nil }
        return since
    }


    // MARK: Pre-poll

    /// poll(2) events for the SSH socket.
    var pollEvents: Int16 {
        var events: Int16 = 0
        let directions = session.blockDirections
        if pending != nil && directions.outbound { events |= Int16(POLLOUT) }
        if wantsInbound || (pending != nil && directions.inbound) || drainThrough != nil { events |= Int16(POLLIN) }
        return events
    }

    /// No channel here wants reading (each waits for a stalled local client): the channel through which what still
    /// arrives is drained into libssh2 (nil: none, or a read is wanted anyway). Left in the socket, the server's
    /// data would fill it, and the end of a dead session (its FIN, queued behind that data on a zero window) would
    /// never arrive: the loss would go unnoticed until a client read on.
    private var drainThrough: Forward? {
        guard pending == nil, opening == nil, !wantsInbound else { return nil }
        return forwards.first { $0.isOpen && $0.channel != nil && !drainedToEOF.contains($0.id) }
    }

    /// Someone needs libssh2 to read the SSH socket (channel data, window adjusts, open/close replies).
    private var wantsInbound: Bool {
        opening != nil || forwards.contains { $0.wantsChannelRead || $0.writeWaitsForWindow || $0.state == .closing }
    }

    /// A channel that wants reading has data (or its EOF) already queued inside libssh2: a call for another channel
    /// read it off the socket, so poll() would not report it. Not while a send is pending (no reads happen then).
    var holdsInput: Bool {
        pending == nil && forwards.contains { forward in
            guard forward.wantsChannelRead, let channel = forward.channel else { return false }
            return channel.hasQueuedData || channel.isEOF
        }
    }

    /// Milliseconds until ServerAlive must look again (Int32.max: off).
    func keepaliveTimeout(now: Date) -> Int32 {
        aliveCheck.pollTimeout()
    }

    // MARK: Calls (all sending calls go through here, one frame, pending first)

    /// Runs every libssh2 call the lane's forwards want. Throws `SSHError.sessionLost` when the session broke.
    func runCalls(now: Date, openDeadline: TimeInterval) throws -> Bool {
        runningCalls = true
        defer { runningCalls = false }
        var progress = false
        if aliveCheck.isOn {
            try aliveCheck.check(received: session.bytesArrived, heardAgo: session.secondsSinceServerData,
                                 heldBack: !wantsInbound && session.unreadBytes >= ServerAliveMonitor.heldBackBytes,
                                 canProbe: pending == nil && session.isWritable)
        }
        if let pending {
            switch pending {
            case .open(let forward): progress = try open(forward, now: now)
            case .read(let forward): progress = try read(forward)
            case .write(let forward, let length): progress = try write(forward, length: length)
            case .sendEOF(let forward): progress = try sendEOF(forward)
            case .close(let forward): progress = try close(forward)
            case .keepalive: progress = try keepalive()
            case .grantWindow(let forward, let bytes): progress = try grantWindow(forward, bytes: bytes)
            case .drain(let forward): progress = try drain(through: forward)
            }
            if self.pending != nil { return progress }
        }

        while opening == nil, !openQueue.isEmpty {
            let next = openQueue.removeFirst()
            guard !next.isDone, !next.localClosed else {
                // Refused or closed while it waited: no channel for it.
                forwards.removeAll { $0 === next }
                continue
            }
            next.handle(.openStarted(now))
            opening = next
        }
        if let forward = opening {
            abandonIfOverdue(forward, now: now, deadline: openDeadline)
            progress = try open(forward, now: now) || progress
            if pending != nil { return progress }
        }

        for forward in forwards {
            switch forward.state {
            case .open:
                progress = try moveBytes(forward) || progress
                if pending != nil { return progress }
            case .closing:
                progress = try close(forward) || progress
                if pending != nil { return progress }
            case .connectingLocally, .queued, .opening, .suspended, .draining, .done:
                break
            }
        }
        forwards.removeAll { $0.isDone }
        if !drainedToEOF.isEmpty {
            drainedToEOF = drainedToEOF.filter { id in forwards.contains { $0.id == id && $0.isOpen } }
        }
        if forwards.isEmpty && opening == nil && idleSince == nil { idleSince = now }
        if let forward = drainThrough, session.unreadBytes > 0 {
            progress = try drain(through: forward) || progress
            if pending != nil { return progress }
        }

        if aliveCheck.probeDue, session.isWritable {
            progress = try keepalive() || progress
        }
        return progress
    }

    private func moveBytes(_ forward: Forward) throws -> Bool {
        var progress = false
        if forward.wantsChannelRead {
            let moved = try read(forward)
            progress = moved
            if pending != nil { return progress }
            if moved, forward.wantsLocalWrite { host.flushToLocal(forward) }
            if moved, forward.receiveWindow != nil {
                progress = try growWindow(forward) || progress
                if pending != nil { return progress }
            }
        }
        forward.refillToChannel()
        while !forward.toChannel.isEmpty, forward.isOpen, !forward.broken {
            let moved = try write(forward, length: min(forward.toChannel.count, Self.maximumWrite))
            progress = moved || progress
            if pending != nil || !moved { return progress }
        }
        if forward.readyForEOF, session.isWritable {
            progress = try sendEOF(forward) || progress
            if pending != nil { return progress }
        }
        if forward.readyForLocalShutdown {
            PosixSocket.shutdownWrite(forward.fd)
            forward.handle(.localShutDown)
            progress = true
        }
        if forward.isOpen, forward.isFinished {
            forward.handle(.closeChannel)
            progress = true
        }
        return progress
    }

    /// The one classifier: a call's outcome, with the pending slot kept right.
    private enum Outcome<Value> {
        case done(Value)
        case blocked
        case channelFailed(LibSSH2Failure)
    }

    private func attempt<Value>(_ slot: PendingSend, _ body: () throws -> SSHResult<Value>) throws -> Outcome<Value> {
        do {
            switch try body() {
            case .done(let value):
                pending = nil
                return .done(value)
            case .wouldBlock:
                // EAGAIN with the outbound side blocked: a packet is half sent, and only this call may continue it.
                pending = session.blockDirections.outbound ? slot : nil
                if pending != nil { partialPacketRetries += 1 }
                return .blocked
            }
        } catch let failure as LibSSH2Failure where failure.isChannelLevel {
            pending = nil
            return .channelFailed(failure)
        } catch let failure as LibSSH2Failure {
            throw SSHError.sessionLost(reason: failure.description)
        }
    }

    private func abandonIfOverdue(_ forward: Forward, now: Date, deadline: TimeInterval) {
        guard case .opening(let since, false, _) = forward.state, now.timeIntervalSince(since) >= deadline else { return }
        let action = forward.handle(.openAbandoned)
        logger.warning("the SSH server has not opened the channel to \(forward.target) within \(Int(deadline)) s; giving up on that connection (the server may be unreachable from the SSH host or dropping connections)",
                       metadata: ["conn": "\(forward.id)"])
        report(forward, .failed("the SSH server did not open the channel to \(forward.target) within \(Int(deadline)) s"))
        // Closes the client side; the forward stays here, opening, until libssh2 is done.
        if action == .finish { host.finish(forward) }
    }

    private func open(_ forward: Forward, now: Date) throws -> Bool {
        let outcome = try attempt(.open(forward)) {
            try session.openDirectTCPIPChannel(host: forward.target.host, port: forward.target.port,
                                               originatorHost: forward.peer, originatorPort: forward.peerPort,
                                               window: forward.filter == nil ? windowGrowth.window : Self.controlWindow,
                                               packetSize: packetSize)
        }
        switch outcome {
        case .blocked:
            return false
        case .done(let channel):
            opening = nil
            let since: Date?
            if case .opening(let started, _, _) = forward.state { since = started } else { since = nil }
            switch forward.handle(.opened(channel)) {
            case .closeLateChannel:
                // Its client was already answered: the late channel is closed at once.
                logger.info("a late channel to \(forward.target) opened after its connection was given up; closing it", metadata: ["conn": "\(forward.id)"])
            case .opened(let resumed):
                windowGrowth.opened(forward, since: since, now: now)
                logger.info("channel open", metadata: ["conn": "\(forward.id)"])
                report(forward, .opened)
                if resumed { forward.filter?.serverReconnected() }
            case .none, .ignored, .finish, .forget, .suspend, .drain:
                break
            }
            return true
        case .channelFailed(let failure):
            opening = nil
            if forward.handle(.refused) == .forget {
                forwards.removeAll { $0 === forward }
                return true
            }
            logger.error("the SSH server refused to open a channel to \(forward.target) for the connection from \(forward.peer):\(forward.peerPort): \(failure.message); the tunnel stays up (check AllowTcpForwarding on the server and that the FTP server listens at \(forward.target))")
            report(forward, .failed("the SSH server refused the channel to \(forward.target): \(failure.message)"))
            host.finish(forward)
            return true
        }
    }

    private func report(_ forward: Forward, _ outcome: ChannelOpenOutcome) {
        guard let report = forward.onChannelOpen else { return }
        forward.onChannelOpen = nil
        report(outcome)
    }

    private func read(_ forward: Forward) throws -> Bool {
        guard let channel = forward.channel else { pending = nil; return false }
        let buffer: UnsafeMutableRawBufferPointer
        if forward.filter != nil {
            buffer = UnsafeMutableRawBufferPointer(rebasing: controlScratch[0..<min(forward.toLocal.room, controlScratch.count)])
        } else {
            buffer = forward.toLocal.writable()
        }
        switch try attempt(.read(forward), { try channel.read(into: buffer) }) {
        case .done(let n) where n > 0:
            // libssh2 copies out what it holds up to the buffer's size: less means it held nothing more.
            forward.handle(.channelRead(bytes: n, offered: buffer.count))
            if let filter = forward.filter {
                filter.serverBytes(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            } else {
                forward.toLocal.produced(n)
            }
            forward.bytesDown += n
            return true
        case .done:
            guard channel.isEOF else { return false }
            logger.debug("server side sent EOF", metadata: ["conn": "\(forward.id)"])
            forward.handle(.channelEOF)
            return true
        case .blocked:
            if pending == nil, channel.isEOF {
                forward.handle(.channelEOF)
                return true
            }
            return false
        case .channelFailed(let failure):
            logger.info("channel failed: \(failure.message)", metadata: ["conn": "\(forward.id)"])
            forward.handle(.channelFailed)
            return true
        }
    }

    private func write(_ forward: Forward, length: Int) throws -> Bool {
        guard let channel = forward.channel else { pending = nil; return false }
        let span = UnsafeRawBufferPointer(start: forward.toChannel.readable.baseAddress, count: length)
        switch try attempt(.write(forward, length: length), { try channel.write(span) }) {
        case .done(let n):
            forward.toChannel.pinned = false
            forward.toChannel.consumed(n)
            forward.bytesUp += n
            forward.handle(.wrote(bytes: n))
            forward.refillToChannel()
            return n > 0
        case .blocked:
            forward.toChannel.pinned = pending != nil
            forward.handle(.writeBlocked(halfSent: pending != nil))
            return false
        case .channelFailed(let failure):
            forward.toChannel.pinned = false
            forward.handle(.writeFailed)
            logger.info("channel write failed: \(failure.message)", metadata: ["conn": "\(forward.id)"])
            return true
        }
    }

    private func sendEOF(_ forward: Forward) throws -> Bool {
        guard let channel = forward.channel else { pending = nil; return false }
        switch try attempt(.sendEOF(forward), { try channel.sendEOF() }) {
        case .done:
            forward.handle(.eofSent(failed: false))
            return true
        case .channelFailed:
            forward.handle(.eofSent(failed: true))
            return true
        case .blocked:
            return false
        }
    }

    /// Lets libssh2 take what waits on the socket, through `forward`'s channel but without reading it (see
    /// `drainThrough`). A dead session shows here: libssh2 reads its end and the call throws.
    private func drain(through forward: Forward) throws -> Bool {
        guard let channel = forward.channel else { pending = nil; return false }
        switch try attempt(.drain(forward), { try channel.drainSession() }) {
        case .done:
            // This channel's EOF came in: later drains go through another channel.
            drainedToEOF.insert(forward.id)
            return true
        case .blocked:
            return false
        case .channelFailed(let failure):
            logger.info("channel failed: \(failure.message)", metadata: ["conn": "\(forward.id)"])
            forward.handle(.channelFailed)
            return true
        }
    }

    /// `DataWindow auto`: after a read, grant the window the policy asks for.
    private func growWindow(_ forward: Forward) throws -> Bool {
        guard let channel = forward.channel else { return false }
        let grant = windowGrowth.grant(after: forward, windowLeft: channel.receiveWindowLeft)
        guard grant > 0 else { return false }
        return try grantWindow(forward, bytes: grant)
    }

    private func grantWindow(_ forward: Forward, bytes: Int) throws -> Bool {
        guard let channel = forward.channel else { pending = nil; return false }
        switch try attempt(.grantWindow(forward, bytes: bytes), { try channel.grantWindow(bytes) }) {
        case .done, .channelFailed: return true
        case .blocked: return false
        }
    }

    /// close, then free, both retried under the pending-send rule; a channel-level failure of close still frees.
    private func close(_ forward: Forward) throws -> Bool {
        guard let channel = forward.channel else {
            pending = nil
            if forward.handle(.channelClosed) == .finish { host.finish(forward) }
            return true
        }
        if !channel.closeCompleted {
            switch try attempt(.close(forward), { try channel.close() }) {
            case .blocked: return false
            case .done, .channelFailed: channel.closeCompleted = true
            }
        }
        switch try attempt(.close(forward), { try channel.free() }) {
        case .blocked: return false
        case .done, .channelFailed: break
        }
        if forward.handle(.channelClosed) == .finish { host.finish(forward) }
        return true
    }

    /// Sends a ServerAlive probe, or retries the half-sent one (`pending == .keepalive`, not counted again).
    private func keepalive() throws -> Bool {
        let retry = pending != nil
        switch try attempt(.keepalive, { try session.sendKeepalive() }) {
        case .done(let sent):
            if !retry { aliveCheck.probed(sent: sent) }
            // keepalive_send swallows EAGAIN: check whether it left a packet half sent.
            if session.blockDirections.outbound { pending = .keepalive }
        case .blocked, .channelFailed:
            break
        }
        return false
    }

    // MARK: Ending

    /// The session is gone (or the loop stops): every forward on it ends. Nothing is sent.
    func abandonAll() -> [Forward] {
        let all = forwards + openQueue.filter { forward in !forwards.contains { $0 === forward } }
        forwards.removeAll()
        openQueue.removeAll()
        opening = nil
        pending = nil
        return all
    }

    func logSummary() {
        logger.debug("session ending: \(partialPacketRetries) sending calls blocked mid-packet and were retried before any other send")
    }
}
