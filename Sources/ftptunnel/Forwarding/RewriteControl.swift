import Foundation
import FTPServerKit
import Logging
import Posix
import FTPCore
import TunnelCore

/// Rewrite mode on one control connection: drives Shared's pure `ControlStreamFilter` for the forwarding loop and
/// performs its actions there (listeners, active-mode connections, bytes toward either side). Lives on the loop
/// thread only.
///
/// What the server side produces (a lane's channel read, its end, an active-mode completion reported by a lane)
/// is only queued: opening a listener may open a channel on a lane, and a lane must not be handed work from inside
/// its own call. The loop runs the queue after the lanes' calls for the pass (`runQueuedActions`); every entry
/// point from the loop's side runs what is queued first, so actions keep their order.
final class RewriteControl: StreamFilter {
    private var filter: ControlStreamFilter
    /// Frames both streams once, for the filter, the keeper, the gate and the transfer tracker.
    private var conversation: ControlConversation
    /// Keeps the FTP session across a lost SSH session (nil with `Reconnect no`).
    private var keeper: ControlSessionKeeper?
    private unowned let control: ForwardingControl
    private let logger: Logger
    private weak var forward: Forward?
    /// Actions not performed yet, in order: those produced while others are being performed (completions arrive
    /// re-entrantly), and those from the server side waiting for the loop.
    private var queue: [ControlStreamFilter.Action] = []
    private var performing = false
    private var detached = false
    /// The transfer lines and `status`'s transfers in progress.
    private let transfers: TransferReporter
    /// Active mode's rule for this control connection's client (made at its first PORT/EPRT).
    private var activeTargetGuard: ActiveTargetGuard?
    /// Holds a transfer's 226 until its data arrived whole (issue 17); every server byte passes it.
    private var gate: TransferCompletionGate!
    /// The server's stream ended while the gate held a reply: the filter hears of it after the release.
    private var serverEndPending = false

    /// Where data listeners bind: the address the client's control connection arrived on (never a wildcard,
    /// even when the control port listens on all addresses), per family.
    private let ipv4ListenAddress: String
    private let ipv6ListenAddress: String

    /// `arrivedOn`: the local address of the accepted control connection (getsockname).
    init(control: ForwardingControl, settings: TunnelSettings, arrivedOn: SocketAddress, logger: Logger,
         activity: TunnelActivity? = nil, transferLogLevel: Logger.Level = .notice) {
        self.control = control
        self.logger = logger
        var connection: () -> Int = { 0 }
        transfers = TransferReporter(logger: logger, level: transferLogLevel, activity: activity, connection: { connection() })
        let usable = arrivedOn.isWildcard ? nil : arrivedOn.host
        ipv4ListenAddress = arrivedOn.family == .ipv4 ? (usable ?? "127.0.0.1") : "127.0.0.1"
        ipv6ListenAddress = arrivedOn.family == .ipv6 ? (usable ?? "::1") : "::1"
        filter = ControlStreamFilter(.init(ftpHost: settings.ftpHost, passiveHost: settings.passiveHost,
                                           clientFamily: arrivedOn.family == .ipv6 ? .ipv6 : .ipv4,
                                           listenAddress: ipv4ListenAddress, traces: logger.logLevel <= .debug))
        conversation = ControlConversation(maximumLineLength: filter.configuration.maximumLineLength)
        keeper = settings.reconnect ? ControlSessionKeeper() : nil
        connection = { [weak self] in self?.forward?.id ?? 0 }
        gate = TransferCompletionGate(wake: control.wakeLoop) { [transfers] reply in transfers.fromServer(reply) }
    }

    /// The factory the tunnel installs in rewrite mode.
    static func factory(settings: TunnelSettings, logger: Logger, activity: TunnelActivity? = nil,
                        transferLogLevel: Logger.Level = .notice) -> @Sendable (ForwardingControl, SocketAddress) -> StreamFilter {
        { control, arrivedOn in
            RewriteControl(control: control, settings: settings, arrivedOn: arrivedOn, logger: logger, activity: activity,
                           transferLogLevel: transferLogLevel)
        }
    }

    private var owner: ObjectIdentifier { ObjectIdentifier(self) }

    func attach(to forward: Forward) { self.forward = forward }

    var wantsClientBytes: Bool { filter.wantsClientBytes && (keeper?.isLive ?? true) }
    /// Not while actions of an earlier read wait for the loop: at most one read's worth is ever queued.
    var wantsServerBytes: Bool { filter.wantsServerBytes && !gate.isHolding && queue.isEmpty }
    var holdsOutput: Bool { filter.hasHeldOutput || gate.isHolding || !queue.isEmpty }

    func clientBytes(_ bytes: UnsafeRawBufferPointer) { perform(filter.clientUnits(conversation.commands(bytes))) }
    /// From a lane's read: queued for the loop.
    func serverBytes(_ bytes: UnsafeRawBufferPointer) {
        let units = conversation.replies(bytes)
        guard keeper != nil else { return toFilter(units, runNow: false) }
        deliver(keeper!.fromServer(units), runNow: false)
    }
    func clientEnded() { perform(filter.clientEnded(conversation.commandsEnded())) }
    /// From a lane (the channel's end) or from `tick`: queued for the loop.
    func serverEnded() {
        guard !gate.isHolding else { return serverEndPending = true }
        let collected = gate.flush()
        if !collected.isEmpty { perform(filter.serverUnits(collected), runNow: false) }
        // The unfinished last line reaches the filter only when the keeper would have passed it.
        let unterminated = conversation.repliesEnded()
        let passes = keeper.map { $0.phase == .live || $0.phase == .resending } ?? true
        perform(filter.serverEnded(passes ? unterminated : nil), runNow: false)
    }

    /// Server reply lines (after the keeper) through the gate to the filter.
    private func toFilter(_ units: [ControlConversation.Unit], sessionLost: Bool = false, runNow: Bool) {
        let passed = gate.feed(units, sessionLost: sessionLost)
        if !passed.isEmpty { perform(filter.serverUnits(passed), runNow: runNow) }
    }

    func tick(now: Date) -> Bool {
        let ranQueue = runQueuedActions()
        guard let released = gate.tick(now: now) else { return ranQueue }
        if !released.isEmpty { perform(filter.serverUnits(released)) }
        if serverEndPending, !gate.isHolding {
            serverEndPending = false
            serverEnded()
            runQueue()
        }
        return true
    }

    /// Now while actions wait for the loop (a completion queued after this pass's `runQueuedActions`).
    var dueDate: Date? { queue.isEmpty ? gate.dueDate : Date.distantPast }

    func runQueuedActions() -> Bool {
        guard !queue.isEmpty, !performing else { return false }
        runQueue()
        return true
    }

    var survivesSessionLoss: Bool { keeper != nil && !detached }
    var isQuiet: Bool {
        survivesSessionLoss && keeper?.isQuiet == true && conversation.isBetweenReplies && !filter.hasHeldOutput
            && !gate.isHolding && queue.isEmpty
    }

    func sessionLost() {
        guard keeper != nil else { return }
        runQueue()
        // The old server's passive ports are gone: listeners announced for them must not lead anywhere.
        control.releaseDataListeners(owner: owner)
        logger.info("FTP session suspended until the SSH session is back", metadata: forward.map { ["conn": "\($0.id)"] })
        deliver(keeper!.sessionLost(replies: &conversation), sessionLost: true, runNow: true)
    }

    func serverReconnected() {
        keeper?.serverReconnected()
    }

    /// What the keeper produced: replies for the filter, replayed commands for the server, the outcome.
    private func deliver(_ output: ControlSessionKeeper.Output, sessionLost: Bool = false, runNow: Bool) {
        forward?.queueToChannel(output.toServer)
        if !output.toFilter.isEmpty { toFilter(output.toFilter, sessionLost: sessionLost, runNow: runNow) }
        if output.resumed {
            logger.notice("FTP session resumed on the new SSH session (login, directory, transfer settings and a pending REST/RNFR replayed)", metadata: forward.map { ["conn": "\($0.id)"] })
        }
        if let failure = output.failure {
            logger.warning("could not resume the FTP session: \(failure); the client is told 421", metadata: forward.map { ["conn": "\($0.id)"] })
            forward?.queueToLocal(Array("\(ReplyCode.serviceNotAvailable) The SSH session was lost and the FTP session could not be resumed: \(ControlStreamFilter.sanitized(failure))".utf8) + [13, 10])
            forward?.handle(.closeAfterFlush)
        }
    }

    func detach() {
        guard !detached else { return }
        detached = true
        // Detached: what is still queued opens nothing (listeners and connections are answered as failed).
        runQueue()
        control.releaseDataListeners(owner: owner)
        transfers.ended()
    }

    /// Queues `actions` and, unless they come from the server side (`runNow` false), runs the queue.
    private func perform(_ actions: [ControlStreamFilter.Action], runNow: Bool = true) {
        queue += actions
        if runNow { runQueue() }
    }

    private func runQueue() {
        guard !performing else { return }
        performing = true
        defer { performing = false }
        while !queue.isEmpty {
            run(queue.removeFirst())
        }
    }

    private func run(_ action: ControlStreamFilter.Action) {
        switch action {
        case .sendToServer(let units):
            transfers.sentToServer(units)
            forward?.queueToChannel((keeper == nil ? units : keeper!.sentToServer(units)).flatMap(\.raw))
        case .sendToClient(let bytes):
            forward?.queueToLocal(bytes)
        case .openPassiveListener(let id, let target, let family):
            guard !detached else { return queue += filter.listenerFailed(id, reason: "the control connection ended") }
            do {
                let port = try control.openDataListener(owner: owner, id: id.rawValue,
                                                        target: ForwardTarget(host: target.host ?? filter.configuration.ftpHost, port: target.port),
                                                        address: family == .ipv6 ? ipv6ListenAddress : ipv4ListenAddress,
                                                        meter: transfers.dataEndpointOpened())
                queue += filter.listenerOpened(id, localPort: port)
            } catch {
                queue += filter.listenerFailed(id, reason: "\(error)")
            }
        case .connectActive(let id, let server, let client):
            guard let clientHost = client.host, !detached, let forward,
                  let clientAddress = SocketAddress(host: clientHost, port: client.port) else {
                return queue += filter.activeConnectFailed(id, reason: "no client address")
            }
            let targetGuard: ActiveTargetGuard
            do { targetGuard = try activeTargetGuard ?? ActiveTargetGuard(controlConnection: forward.fd) } catch {
                return queue += filter.activeRefused(id, reason: "\(error)")
            }
            activeTargetGuard = targetGuard
            control.connectActive(client: clientAddress,
                                  target: ForwardTarget(host: server.host ?? filter.configuration.ftpHost, port: server.port),
                                  targetGuard: targetGuard, meter: transfers.dataEndpointOpened()) { [weak self] outcome in
                guard let self else { return }
                // Reported from a lane's channel open, or by the loop: queued either way, the loop runs it.
                switch outcome {
                case .connected: self.perform(self.filter.activeConnected(id), runNow: false)
                case .failed(let reason): self.perform(self.filter.activeConnectFailed(id, reason: reason), runNow: false)
                case .refused(let reason): self.perform(self.filter.activeRefused(id, reason: reason), runNow: false)
                }
            }
        case .releaseData(let id):
            control.releaseDataListener(owner: owner, id: id.rawValue)
        case .log(let level, let message):
            logger.log(level: level, "\(message)", metadata: forward.map { ["conn": "\($0.id)"] })
        }
    }
}
