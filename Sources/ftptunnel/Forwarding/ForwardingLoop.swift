import Foundation
import Logging
import Shared

/// The forwarding loop of one SSH session (DESIGN 3.3), in the style of OpenSSH's channels.c.
///
/// One thread owns the session, every channel and every local socket. Each pass:
/// 1. decides what each forward wants (read the local side only when its buffer has room, read the channel only
///    when the local buffer has room; the SSH socket in the directions libssh2 reports);
/// 2. polls local sockets, listeners, the SSH socket and the wake-up pipe;
/// 3. moves bytes on local sockets, then runs every libssh2 call in `runSSHCalls()`.
///
/// **Pending-send rule.** When a libssh2 call returns EAGAIN with the outbound direction blocked, a packet is half
/// sent. That exact call (same channel, same buffer and length) is the only libssh2 call that may send until it
/// completes: `pending` holds it and `runSSHCalls()` retries it first and returns while it is still blocked.
/// Calls that send tiny packets built on libssh2's stack (send_eof, keepalive) are made only when the socket is
/// writable and always from the same frame, so a retry presents the same packet.
///
/// Data already inside libssh2 does not wake poll(): after a pass with progress, or in which libssh2 read from the
/// socket (counted by its recv callback), the next poll does not wait, so every channel is read again.
final class ForwardingLoop {
    enum PendingSend {
        case open(Forward)
        case read(Forward)
        case write(Forward, length: Int)
        case sendEOF(Forward)
        case close(Forward)
        case keepalive
    }

    struct Configuration {
        var dataWindow: Int
        var packetSize = ForwardingLoop.packetSize
        var bufferSize = ForwardingLoop.bufferSize
        var keepaliveInterval: Int
        var keepaliveCountMax = 3
        /// Makes the filter of each new control connection (rewrite mode), given the client's address family;
        /// nil in fixed mode.
        var controlFilter: (@Sendable (ForwardingControl, ControlStreamFilter.AddressFamily) -> StreamFilter)?
        var bindAddress: String
        /// Ports for rewrite mode's data listeners (nil: ephemeral).
        var dataPorts: ClosedRange<Int>? = nil
    }

    /// Linux POLLRDHUP (the peer closed its sending half), not exported to Swift without _GNU_SOURCE.
    static let pollReadHangUp: Int16 = 0x2000
    /// SSH packet size for data channels (libssh2's maximum; larger packets gain nothing).
    static let packetSize = 32768
    /// Per-direction buffer between a local socket and its channel.
    static let bufferSize = 256 << 10
    /// Largest chunk handed to one libssh2_channel_write (it sends at most one packet per call anyway).
    static let maximumWrite = 64 << 10

    let session: SSHSession
    let logger: Logger
    let configuration: Configuration
    /// Listening sockets; one-shot listeners are added by `ForwardingControl` and removed after one accept.
    var listeners: [LocalListener]
    var forwards: [Forward] = []
    var openQueue: [Forward] = []
    private var opening: Forward?
    private var pending: PendingSend?
    private let wakeUp: WakeUpPipe
    private let shouldStop: () -> Bool
    var nextID = 1
    /// How often a sending call left a packet half sent (and was retried before any other send).
    private(set) var partialPacketRetries = 0
    /// ServerAliveInterval/ServerAliveCountMax (nil: off, or retired after its probe budget).
    private var serverAlive: ServerAliveMonitor?
    private var scratch = [UInt8](repeating: 0, count: ForwardingLoop.bufferSize)
    /// Set before `run` when this loop is one session of a pool (`Sessions N`): data connections accepted here
    /// go through the dispatcher to the least-loaded session; ones dispatched here arrive in `member`'s inbox.
    var pool: (member: PoolMember, dispatcher: ConnectionDispatcher)?
    /// Forwards counted in `pool.member`'s load.
    private var pooledForwards = Set<Int>()
    /// Rewrite mode's one-shot data listeners that have not accepted yet.
    let dataListeners = DataListenerRegistry()
    /// Longest wait for a non-blocking connect to a client's active-mode port on loopback.
    static let activeConnectTimeout: Int32 = 3000

    init(session: SSHSession, listeners: [LocalListener], configuration: Configuration, wakeUp: WakeUpPipe,
         logger: Logger, shouldStop: @escaping () -> Bool) {
        self.session = session
        self.listeners = listeners
        self.configuration = configuration
        self.wakeUp = wakeUp
        self.logger = logger
        self.shouldStop = shouldStop
    }

    /// Runs until `shouldStop()` turns true (returns) or the session fails (throws).
    func run() throws {
        session.setBlocking(false)
        if configuration.keepaliveInterval > 0 {
            session.configureProbes()
            serverAlive = ServerAliveMonitor(interval: configuration.keepaliveInterval, countMax: configuration.keepaliveCountMax,
                                             now: ServerAliveMonitor.now, received: session.bytesArrived)
        }
        defer { shutDown() }
        var progress = false
        while !shouldStop() {
            buildPollSet()
            let timeout: Int32 = progress || libssh2HoldsInput ? 0 : min(keepaliveTimeout(), dataListenerTimeout())
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0 && errno != EINTR {
                throw TunnelError.internalFailure("poll failed: \(String(cString: strerror(errno)))")
            }
            progress = try handle(fds, ready: max(0, ready))
        }
    }

    // MARK: Pre-poll: what does everyone want?

    private enum Slot { case wake, ssh, listener(LocalListener), forward(Forward) }
    private var slots: [Slot] = []
    /// The poll set, rebuilt each pass in place (no allocation per pass).
    private var fds: [pollfd] = []

    private func buildPollSet() {
        fds.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        fds.append(pollfd(fd: wakeUp.readFD, events: Int16(POLLIN), revents: 0)); slots.append(.wake)

        var sshEvents = Self.pollReadHangUp
        let directions = session.blockDirections
        if pending != nil && directions.outbound { sshEvents |= Int16(POLLOUT) }
        if wantsInbound || (pending != nil && directions.inbound) { sshEvents |= Int16(POLLIN) }
        fds.append(pollfd(fd: session.socket, events: sshEvents, revents: 0)); slots.append(.ssh)

        for listener in listeners where listener.isListening {
            fds.append(pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)); slots.append(.listener(listener))
        }
        for forward in forwards where forward.state != .done {
            var events: Int16 = 0
            if forward.wantsLocalRead { events |= Int16(POLLIN) }
            if forward.wantsLocalWrite { events |= Int16(POLLOUT) }
            // A socket nobody wants to touch is left out (fd -1): a pending hang-up must not wake poll() in a loop.
            fds.append(pollfd(fd: events == 0 ? -1 : forward.fd, events: events, revents: 0)); slots.append(.forward(forward))
        }
    }

    /// Someone needs libssh2 to read the SSH socket (channel data, window adjusts, open/close replies).
    private var wantsInbound: Bool {
        opening != nil || forwards.contains {
            $0.wantsChannelRead || $0.writeWaitsForWindow || $0.state == .closing
        }
    }

    /// A channel that wants reading has data (or its EOF) already queued inside libssh2: a call for another channel
    /// read it off the socket, so poll() would not report it. Not while a send is pending (no reads happen then).
    private var libssh2HoldsInput: Bool {
        pending == nil && forwards.contains { forward in
            guard forward.wantsChannelRead, let channel = forward.channel else { return false }
            return channel.hasQueuedData || channel.isEOF
        }
    }

    /// Milliseconds until the next unused data listener expires (Int32.max: none waiting).
    private func dataListenerTimeout() -> Int32 {
        guard let expiry = dataListeners.nextExpiry else { return Int32.max }
        return Int32(min(max(0, expiry.timeIntervalSinceNow) * 1000 + 1, Double(Int32.max)))
    }

    /// Milliseconds until ServerAlive must look again (Int32.max: off).
    private func keepaliveTimeout() -> Int32 {
        serverAlive?.pollTimeout(now: ServerAliveMonitor.now) ?? Int32.max
    }

    // MARK: Post-poll

    private func handle(_ fds: [pollfd], ready: Int32) throws -> Bool {
        var progress = false
        var sshHungUp = false
        for (index, fd) in fds.enumerated() where fd.revents != 0 {
            switch slots[index] {
            case .wake:
                wakeUp.drain()
                progress = adoptQueued() || progress
            case .ssh:
                if fd.revents & (Self.pollReadHangUp | Int16(POLLHUP | POLLERR)) != 0 { sshHungUp = true }
            case .listener(let listener):
                progress = acceptAll(on: listener) || progress
            case .forward(let forward):
                progress = localIO(forward, revents: fd.revents) || progress
            }
        }
        let received = session.bytesReceived
        try checkServerAlive()
        progress = try runSSHCalls() || progress
        // libssh2 read the socket: packets for channels already visited in this pass may be queued inside it,
        // invisible to poll(). Another pass (without waiting) offers them to every channel.
        if session.bytesReceived != received { progress = true }
        reapFinished()
        expireDataListeners()
        if sshHungUp {
            // Let libssh2 consume what arrived before the close, then report the loss.
            let socketError = Self.pendingSocketError(session.socket)
            _ = try? runSSHCalls()
            if socketError == ETIMEDOUT, configuration.keepaliveInterval > 0 {
                // TCP_USER_TIMEOUT (ServerAliveInterval × ServerAliveCountMax) expired: keepalives went unanswered.
                throw SSHError.serverNotAnswering(seconds: configuration.keepaliveInterval * max(1, configuration.keepaliveCountMax))
            }
            throw SSHError.sessionLost(reason: socketError == 0
                ? "the SSH server closed the connection" : String(cString: strerror(socketError)))
        }
        return progress
    }

    private func acceptAll(on listener: LocalListener) -> Bool {
        var accepted = false
        while let client = listener.accept() {
            accepted = true
            if !listener.isControl, let pool {
                pool.dispatcher.dispatch(AdoptedConnection(fd: client.fd, peer: client.peer, peerPort: client.peerPort,
                                                           localPort: listener.port, target: listener.target))
                logger.debug("data connection handed to the session pool", metadata: ["port": "\(listener.port)", "peer": "\(client.peer):\(client.peerPort)"])
                if listener.oneShot {
                    dataListeners.forget(listener)
                    listeners.removeAll { $0 === listener }
                    break
                }
                continue
            }
            let family: ControlStreamFilter.AddressFamily = listener.address.contains(":") ? .ipv6 : .ipv4
            let forward = Forward(id: nextID, fd: client.fd, peer: client.peer, peerPort: client.peerPort,
                                  localPort: listener.port, target: listener.target,
                                  filter: listener.isControl ? configuration.controlFilter?(self, family) : nil,
                                  bufferSize: configuration.bufferSize)
            forward.filter?.attach(to: forward)
            nextID += 1
            forwards.append(forward)
            openQueue.append(forward)
            logger.info("connection accepted", metadata: meta(forward))
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
            openQueue.append(forward)
            pooledForwards.insert(forward.id)
            logger.info("connection accepted", metadata: meta(forward))
        }
        return !connections.isEmpty
    }

    /// Local socket reads and writes (no libssh2 calls).
    private func localIO(_ forward: Forward, revents: Int16) -> Bool {
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
        let n: Int
        if forward.filter != nil {
            n = scratch.withUnsafeMutableBytes { read(forward.fd, $0.baseAddress, min($0.count, forward.toChannel.room)) }
        } else {
            let space = forward.toChannel.writable()
            n = read(forward.fd, space.baseAddress, space.count)
        }
        if n > 0 {
            if let filter = forward.filter {
                scratch.withUnsafeBytes { filter.clientBytes(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            } else {
                forward.toChannel.produced(n)
            }
            return true
        }
        if n == 0 {
            forward.localEOF = true
            logger.debug("local side closed its sending half", metadata: meta(forward))
            forward.filter?.clientEnded()
            return true
        }
        if errno == EAGAIN || errno == EINTR { return false }
        forward.localBroken = true
        logger.info("local connection failed: \(String(cString: strerror(errno)))", metadata: meta(forward))
        return true
    }

    private func writeLocal(_ forward: Forward) -> Bool {
        let bytes = forward.toLocal.readable
        let n = send(forward.fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL))
        if n > 0 {
            forward.toLocal.consumed(n)
            if !forward.toLocalOverflow.isEmpty {
                let taken = forward.toLocal.append(forward.toLocalOverflow)
                forward.toLocalOverflow.removeFirst(taken)
            }
            return true
        }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return false }
        forward.localBroken = true
        logger.info("local connection failed: \(String(cString: strerror(errno)))", metadata: meta(forward))
        return true
    }

    // MARK: libssh2 calls (all sending calls go through here, one frame, pending first)

    private func runSSHCalls() throws -> Bool {
        var progress = false
        if let pending {
            switch pending {
            case .open(let forward): progress = try openChannel(forward)
            case .read(let forward): progress = try readChannel(forward)
            case .write(let forward, let length): progress = try writeChannel(forward, length: length)
            case .sendEOF(let forward): progress = try sendEOF(forward)
            case .close(let forward): progress = try closeChannel(forward)
            case .keepalive: progress = try keepalive()
            }
            if self.pending != nil { return progress }
        }

        if opening == nil, !openQueue.isEmpty { opening = openQueue.removeFirst() }
        if let forward = opening {
            progress = try openChannel(forward) || progress
            if pending != nil { return progress }
        }

        for forward in forwards {
            switch forward.state {
            case .open:
                if forward.wantsChannelRead {
                    let moved = try readChannel(forward)
                    progress = moved || progress
                    if pending != nil { return progress }
                    // Hand the bytes to the local socket now rather than after the next poll (a local send
                    // is no libssh2 call, so the pending-send rule is unaffected).
                    if moved, forward.wantsLocalWrite { _ = writeLocal(forward) }
                }
                flushOverflow(forward)
                while !forward.toChannel.isEmpty, forward.state == .open, !forward.localBroken {
                    let length = min(forward.toChannel.count, Self.maximumWrite)
                    let moved = try writeChannel(forward, length: length)
                    progress = moved || progress
                    if pending != nil { return progress }
                    if !moved { break }
                }
                if forward.state == .open, forward.localEOF, !forward.eofSent, forward.toChannel.isEmpty,
                   forward.toChannelOverflow.isEmpty, !forward.localBroken, !forward.filterHoldsOutput, sshSocketWritable() {
                    progress = try sendEOF(forward) || progress
                    if pending != nil { return progress }
                }
                if forward.state == .open, forward.channelEOF, !forward.localShutdown, forward.toLocal.isEmpty,
                   forward.toLocalOverflow.isEmpty, !forward.filterHoldsOutput {
                    shutdown(forward.fd, Int32(SHUT_WR))
                    forward.localShutdown = true
                    progress = true
                }
                if forward.state == .open, forward.isFinished {
                    forward.state = .closing
                    progress = true
                }
            case .closing:
                progress = try closeChannel(forward) || progress
                if pending != nil { return progress }
            case .queued, .opening, .done:
                break
            }
        }

        if serverAlive?.decision(now: ServerAliveMonitor.now) == .probe, sshSocketWritable() {
            progress = try keepalive() || progress
        }
        return progress
    }

    /// Classifies the outcome of a sending call: EAGAIN with the outbound side blocked occupies the pending slot.
    private func blocked(_ what: PendingSend) {
        pending = session.blockDirections.outbound ? what : nil
        if pending != nil { partialPacketRetries += 1 }
    }

    private func openChannel(_ forward: Forward) throws -> Bool {
        forward.state = .opening
        do {
            switch try session.openDirectTCPIP(host: forward.target.host, port: forward.target.port,
                                               originatorHost: forward.peer, originatorPort: forward.peerPort,
                                               window: configuration.dataWindow, packetSize: configuration.packetSize) {
            case .done(let channel):
                pending = nil
                opening = nil
                forward.channel = channel
                forward.state = .open
                logger.info("channel open", metadata: meta(forward))
                reportChannelOpen(forward, failure: nil)
                return true
            case .wouldBlock:
                opening = forward
                blocked(.open(forward))
                return false
            }
        } catch let failure as LibSSH2Failure where failure.isChannelLevel {
            pending = nil
            opening = nil
            logger.error("the SSH server refused to open a channel to \(forward.target) for the connection from \(forward.peer):\(forward.peerPort): \(failure.message); the tunnel stays up (check AllowTcpForwarding on the server and that the FTP server listens at \(forward.target))")
            forward.channel = nil
            reportChannelOpen(forward, failure: "the SSH server refused the channel to \(forward.target): \(failure.message)")
            finish(forward)
            return true
        } catch let failure as LibSSH2Failure {
            throw SSHError.sessionLost(reason: failure.description)
        }
    }

    private func reportChannelOpen(_ forward: Forward, failure: String?) {
        guard let report = forward.onChannelOpen else { return }
        forward.onChannelOpen = nil
        report(failure)
    }

    /// The server's side ended: remember it and tell the control filter once.
    private func markChannelEOF(_ forward: Forward) {
        forward.channelEOF = true
        if !forward.filterSawServerEnd {
            forward.filterSawServerEnd = true
            forward.filter?.serverEnded()
        }
    }

    private func readChannel(_ forward: Forward) throws -> Bool {
        guard let channel = forward.channel else { pending = nil; return false }
        do {
            let result: SSHResult<Int>
            if forward.filter != nil {
                let limit = forward.toLocal.room
                result = try scratch.withUnsafeMutableBytes { try channel.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<limit])) }
            } else {
                result = try channel.read(into: forward.toLocal.writable())
            }
            switch result {
            case .done(let n):
                pending = nil
                if n > 0 {
                    if let filter = forward.filter {
                        scratch.withUnsafeBytes { filter.serverBytes(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                    } else {
                        forward.toLocal.produced(n)
                    }
                    forward.bytesDown += n
                    return true
                }
                if channel.isEOF {
                    markChannelEOF(forward)
                    logger.debug("server side sent EOF", metadata: meta(forward))
                    return true
                }
                return false
            case .wouldBlock:
                blocked(.read(forward))
                if pending == nil, channel.isEOF {
                    markChannelEOF(forward)
                    return true
                }
                return false
            }
        } catch let failure as LibSSH2Failure where failure.isChannelLevel {
            pending = nil
            forward.channelEOF = true
            forward.localBroken = true
            logger.info("channel failed: \(failure.message)", metadata: meta(forward))
            return true
        } catch let failure as LibSSH2Failure {
            throw SSHError.sessionLost(reason: failure.description)
        }
    }

    private func writeChannel(_ forward: Forward, length: Int) throws -> Bool {
        guard let channel = forward.channel else { pending = nil; return false }
        let span = UnsafeRawBufferPointer(start: forward.toChannel.readable.baseAddress, count: length)
        do {
            switch try channel.write(span) {
            case .done(let n):
                pending = nil
                forward.toChannel.pinned = false
                forward.toChannel.consumed(n)
                forward.bytesUp += n
                forward.writeWaitsForWindow = n == 0
                flushOverflow(forward)
                return n > 0
            case .wouldBlock:
                blocked(.write(forward, length: length))
                forward.toChannel.pinned = pending != nil
                forward.writeWaitsForWindow = pending == nil
                return false
            }
        } catch let failure as LibSSH2Failure where failure.isChannelLevel {
            pending = nil
            forward.toChannel.pinned = false
            forward.localBroken = true
            logger.info("channel write failed: \(failure.message)", metadata: meta(forward))
            return true
        } catch let failure as LibSSH2Failure {
            throw SSHError.sessionLost(reason: failure.description)
        }
    }

    private func sendEOF(_ forward: Forward) throws -> Bool {
        guard let channel = forward.channel else { pending = nil; return false }
        do {
            switch try channel.sendEOF() {
            case .done:
                pending = nil
                forward.eofSent = true
                return true
            case .wouldBlock:
                blocked(.sendEOF(forward))
                return false
            }
        } catch let failure as LibSSH2Failure where failure.isChannelLevel {
            pending = nil
            forward.eofSent = true
            return true
        } catch let failure as LibSSH2Failure {
            throw SSHError.sessionLost(reason: failure.description)
        }
    }

    private func closeChannel(_ forward: Forward) throws -> Bool {
        guard let channel = forward.channel else {
            pending = nil
            finish(forward)
            return true
        }
        do {
            switch try channel.close() {
            case .done:
                pending = nil
                switch try channel.free() {
                case .done: break
                case .wouldBlock:
                    blocked(.close(forward))
                    if pending != nil { return false }
                }
                finish(forward)
                return true
            case .wouldBlock:
                blocked(.close(forward))
                return false
            }
        } catch let failure as LibSSH2Failure where failure.isChannelLevel {
            pending = nil
            _ = try? channel.free()
            finish(forward)
            return true
        } catch let failure as LibSSH2Failure {
            throw SSHError.sessionLost(reason: failure.description)
        }
    }

    /// Sends a ServerAlive probe, or retries the half-sent one (`pending == .keepalive`, not counted again).
    private func keepalive() throws -> Bool {
        let retry = pending != nil
        do {
            switch try session.sendKeepalive() {
            case .done(let sent):
                pending = nil
                if !retry {
                    serverAlive?.probed(sent: sent)
                    logger.debug("server-alive probe \(sent ? "sent" : "held back by libssh2")",
                                 metadata: ["unanswered": "\(serverAlive?.unanswered ?? 0)"])
                }
                // keepalive_send swallows EAGAIN: check whether it left a packet half sent.
                if session.blockDirections.outbound { pending = .keepalive }
                return false
            case .wouldBlock:
                blocked(.keepalive)
                return false
            }
        } catch let failure as LibSSH2Failure {
            throw SSHError.sessionLost(reason: failure.description)
        }
    }

    /// Each pass before the libssh2 calls, whatever is pending: any byte from the server answers; so does a socket
    /// we leave unread because every local side is full; a due probe that cannot be sent in this pass counts as
    /// sent (see `ServerAliveMonitor`); silence past ServerAliveInterval × (ServerAliveCountMax + 1) ends the
    /// session. A due probe that can be sent is left to the end of `runSSHCalls()`.
    private func checkServerAlive() throws {
        guard var monitor = serverAlive else { return }
        let now = ServerAliveMonitor.now
        let heldBack = !wantsInbound && session.unreadBytes >= ServerAliveMonitor.heldBackBytes
        if monitor.observe(received: session.bytesArrived, heardAgo: session.secondsSinceServerData, heldBack: heldBack, now: now) {
            logger.debug("server-alive probe answered")
        }
        switch monitor.decision(now: now) {
        case .dead(let silent): throw SSHError.serverNotAnswering(seconds: silent)
        case .probe where pending != nil || !sshSocketWritable(): monitor.probed(sent: false)
        case .probe, .wait: break
        }
        serverAlive = monitor.isRetired ? nil : monitor
        if monitor.isRetired {
            logger.notice("ServerAlive: no more probes on this session after \(monitor.probesSent) (libssh2 1.10 keeps every reply); TCP_USER_TIMEOUT still ends it if the server stops acknowledging")
        }
    }

    private func flushOverflow(_ forward: Forward) {
        if !forward.toChannelOverflow.isEmpty, !forward.toChannel.pinned {
            let taken = forward.toChannel.append(forward.toChannelOverflow)
            forward.toChannelOverflow.removeFirst(taken)
        }
    }

    /// poll(POLLOUT, 0): room in the socket's send buffer for a small packet.
    private func sshSocketWritable() -> Bool {
        var fd = pollfd(fd: session.socket, events: Int16(POLLOUT), revents: 0)
        return poll(&fd, 1, 0) == 1 && fd.revents & Int16(POLLOUT) != 0
    }

    /// SO_ERROR of a socket (0 when none), read before libssh2 consumes it.
    static func pendingSocketError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length)
        return value
    }

    // MARK: Ending connections

    private func finish(_ forward: Forward) {
        guard forward.state != .done else { return }
        forward.state = .done
        forward.channel = nil
        forward.closeLocal()
        forward.filter?.detach()
        reportChannelOpen(forward, failure: "the connection closed before its channel opened")
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
            for forward in forwards where forward.state == .done && pooledForwards.remove(forward.id) != nil {
                pool?.member.release()
            }
        }
        forwards.removeAll { $0.state == .done }
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
        logger.debug("session ending: \(partialPacketRetries) sending calls blocked mid-packet and were retried before any other send")
        pool?.member.close()
        pooledForwards.removeAll()
        for forward in forwards where forward.state != .done {
            forward.state = .done
            forward.closeLocal()
            forward.filter?.detach()
        }
        forwards.removeAll()
        dataListeners.removeAll()
        openQueue.removeAll()
        opening = nil
        pending = nil
        listeners.removeAll()
    }

    func meta(_ forward: Forward) -> Logger.Metadata {
        ["conn": "\(forward.id)", "port": "\(forward.localPort)", "peer": "\(forward.peer):\(forward.peerPort)",
         "target": "\(forward.target)"]
    }
}
