import Foundation
import Logging
import Posix

/// The SSH sessions ("lanes") of one forwarding loop and their coming and going, on the loop's thread: which lane
/// a new channel goes to (never one whose open is stalled: head-of-line blocking), opening further sessions on
/// demand, closing idle ones, and — when the last one is lost — opening the session again on `Reconnector`'s
/// schedule, while control connections that survive wait suspended there and new connections wait for the session.
final class SessionSupervisor {
    typealias Configuration = ForwardingLoop.Configuration

    static let idleLaneTimeout: TimeInterval = 30
    /// After a failed attempt to open an extra lane, none is tried for this long.
    static let laneRetryDelay: TimeInterval = 10

    private unowned let host: LaneHost
    private let configuration: Configuration
    private let logger: Logger
    /// The first lane carries the control connections; any lane's loss is survivable while another remains.
    private(set) var lanes: [SessionLane] = []
    private let laneOpener: LaneOpener?
    /// Connections waiting for a lane being opened (or for the session to come back).
    private var waitingForLane: [Forward] = []
    private var noLaneBefore = Date.distantPast
    private var nextLaneNumber = 2
    /// Reconnect bookkeeping: the schedule, suspended control connections, how long others waited.
    private let reconnector: Reconnector
    /// This loop's face in a pool (`Sessions N`): marked disconnected while reconnecting.
    var poolMember: PoolMember?
    /// The log said once that spent sessions cannot be replaced here.
    private var cannotReplaceTold = false

    init(first session: SSHSession, host: LaneHost, configuration: Configuration, wakeUp: WakeUpPipe, logger: Logger) {
        self.host = host
        self.configuration = configuration
        self.logger = logger
        laneOpener = configuration.openLane.map { LaneOpener(wakeUp: wakeUp, connect: $0) }
        reconnector = Reconnector(host: host, policy: configuration.reconnect, logger: logger)
        lanes = [makeLane(number: 1, session: session)]
    }

    private func makeLane(number: Int, session: SSHSession) -> SessionLane {
        var laneLogger = logger
        if number > 1 { laneLogger[metadataKey: "lane"] = "\(number)" }
        return SessionLane(number: number, session: session, host: host, logger: laneLogger,
                           window: configuration.dataWindow, windowMaximum: configuration.dataWindowMaximum,
                           packetSize: configuration.packetSize,
                           keepaliveInterval: configuration.keepaliveInterval, keepaliveCountMax: configuration.keepaliveCountMax,
                           probeBudget: configuration.keepaliveProbeBudget)
    }

    /// This loop's SSH session as `status` shows it: ready, or reconnecting; extra lanes counted.
    func reportState(_ state: String? = nil) {
        guard let activity = configuration.activity else { return }
        let number = poolMember?.number ?? 1
        let extra = lanes.count > 1 ? " (+\(lanes.count - 1) extra session\(lanes.count > 2 ? "s" : "") for slow channel opens)" : ""
        activity.setSession(number, state: (state ?? (reconnector.isReconnecting ? "reconnecting" : "ready")) + extra)
    }

    /// Milliseconds until the supervisor needs the loop again (stall checks, reconnect attempts, waiting limits).
    func nextTimeout(now: Date) -> Int32 {
        var timeout = lanes.map { $0.keepaliveTimeout(now: now) }.min() ?? Int32.max
        for lane in lanes {
            guard let since = lane.stalledSince() else { continue }
            let stallCheck = since.addingTimeInterval(configuration.stallThreshold)
            let deadline = since.addingTimeInterval(configuration.openDeadline)
            timeout = min(timeout, ForwardingLoop.milliseconds(until: stallCheck > now ? stallCheck : deadline, now: now))
        }
        if lanes.count > 1 { timeout = min(timeout, Int32(Self.idleLaneTimeout * 1000)) }
        if let reconnect = reconnector.nextTimeout(now: now) { timeout = min(timeout, reconnect) }
        return timeout
    }

    /// A lost lane ends the data connections on it; control connections that can survive (rewrite mode with
    /// Reconnect) are suspended. Without another lane the loop reconnects, or — with `Reconnect no`, or when no
    /// further session can be opened without asking again — the loss ends the loop (thrown).
    func laneLost(_ lane: SessionLane, _ error: Error) throws {
        let lastLane = lanes.count == 1
        let planned: Bool
        if case SSHError.keepaliveBudgetSpent? = error as? SSHError { planned = true } else { planned = false }
        if lastLane && (configuration.reconnect == nil || laneOpener == nil) { throw error }
        lanes.removeAll { $0 === lane }
        lane.logSummary()
        let now = Date()
        var kept = 0
        for forward in lane.abandonAll() {
            switch forward.handle(.sessionLost(now: now, mayResume: configuration.reconnect != nil)) {
            case .drain:
                break   // its data all arrived before the loss: the client still gets it (issue 17)
            case .suspend:
                forward.filter?.sessionLost()
                reconnector.suspend(forward)
                kept += 1
            case .finish:
                host.finish(forward)
            case .none, .ignored, .forget, .closeLateChannel, .opened:
                break
            }
        }
        if lastLane, let policy = configuration.reconnect {
            let schedule = reconnector.begin(policy: policy, now: now, immediately: planned)
            poolMember?.isConnected = false
            reportState("reconnecting (\(error))")
            if planned {
                logger.notice("\(error): connecting a new one now\(kept > 0 ? "; \(kept) idle FTP session(s) resume on it" : "")")
            } else {
                logger.notice("\(error); reconnecting in \(String(format: "%.1f", schedule.firstDelay)) s — listeners stay open\(kept > 0 ? ", \(kept) FTP session(s) will resume" : "")")
            }
        } else if planned {
            reportState()
            logger.info("SSH session \(lane.number) closed: \(error)")
            resumeSuspended(now: now)
        } else {
            reportState()
            logger.warning("SSH session \(lane.number) lost (\(error)); its data connections are closed, the tunnel stays up\(kept > 0 ? ", \(kept) FTP session(s) resume on another session" : "")")
            resumeSuspended(now: now)
        }
    }

    /// Suspended control connections open new channels once a lane exists.
    private func resumeSuspended(now: Date) {
        guard !lanes.isEmpty, !reconnector.suspended.isEmpty else { return }
        let waiting = reconnector.takeSuspended()
        for forward in waiting where !forward.localClosed { assign(forward, now: now) }
    }

    // MARK: Reconnecting

    /// Starts the next attempt when it is due.
    func driveReconnect(now: Date) {
        guard laneOpener?.isBusy == false, reconnector.attemptIsDue(now: now) else { return }
        laneOpener?.request()
    }

    private func reconnected(_ lane: SessionLane, now: Date) {
        guard let downtime = reconnector.succeeded(now: now) else { return }
        poolMember?.isConnected = true
        let resuming = reconnector.suspended.count
        reportState()
        logger.notice("reconnected after \(String(format: "%.1f", downtime)) s\(resuming > 0 ? "; resuming \(resuming) FTP session(s)" : "")")
        resumeSuspended(now: now)
    }

    /// Connections that waited too long for a session: a control connection is told 421, a data connection closed.
    func refuseOverdueWaiters(now: Date) {
        guard configuration.reconnect != nil else { return }
        reconnector.refuseOverdue(waiting: waitingForLane, now: now)
        waitingForLane.removeAll { $0.isDone || $0.closeWhenFlushed }
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
            forward.handle(.queued)
            waitingForLane.append(forward)
            reconnector.arrived(forward, at: now)
            return
        }
        if let lane = laneForNewChannel(now: now) {
            lane.enqueueOpen(forward)
            return
        }
        forward.handle(.queued)
        waitingForLane.append(forward)
        if laneOpener?.isBusy == false {
            logger.info("every SSH session has a channel open that the server has not answered for \(String(format: "%.1f", configuration.stallThreshold)) s; opening another session so other connections do not wait")
            laneOpener?.request()
        }
    }

    /// Moves the opens queued behind a stalled open to a lane that is not stuck.
    func rebalanceStalledLanes(now: Date) -> Bool {
        var moved = false
        for lane in lanes where lane.queuedOpens > 0 && isStalled(lane, now: now) {
            guard laneForNewChannel(now: now) !== lane else { continue }
            for forward in lane.takeQueuedOpens() { assign(forward, now: now) }
            moved = true
        }
        return moved
    }

    /// A session the opener finished: it becomes a lane and takes the waiting connections.
    func adoptOpenedLane() throws -> Bool {
        guard let outcome = laneOpener?.take() else { return false }
        let waiting = waitingForLane
        waitingForLane.removeAll()
        let now = Date()
        switch outcome {
        case .opened(let session):
            let lane = makeLane(number: nextLaneNumber, session: session)
            nextLaneNumber += 1
            lanes.append(lane)
            reportState()
            if reconnector.isReconnecting {
                reconnected(lane, now: now)
            } else {
                logger.info("extra SSH session \(lane.number) ready; \(waiting.count) waiting connection(s) continue on it")
            }
            for forward in waiting where !forward.isDone {
                reconnector.placed(forward)
                lane.enqueueOpen(forward)
            }
        case .failed(let error) where reconnector.isReconnecting:
            waitingForLane = waiting
            try reconnector.attemptFailed(error, now: now) { reportState($0) }
        case .failed(let error):
            noLaneBefore = Date().addingTimeInterval(Self.laneRetryDelay)
            logger.warning("could not open another SSH session (\(error)); waiting connections stay behind the stalled channel open")
            for forward in waiting where !forward.isDone { lanes[0].enqueueOpen(forward) }
        }
        return true
    }

    /// ServerAlive never expires: a lane whose probe budget is nearly spent (`SessionLane.wantsReplacement`) is
    /// replaced as soon as ending it goes unnoticed: no open or half-sent packet on it, no data listener waiting
    /// anywhere in this loop, and nothing on it but control connections that resume elsewhere and have no command
    /// waiting for its reply. The new session comes from the reconnect path at once (an extra lane simply closes;
    /// new ones open on demand). Without a reusable login (`Reconnect no`, keyboard-interactive) it is not
    /// replaced: it probes to the end of its budget and then relies on TCP_USER_TIMEOUT, as the log says.
    /// Returns true when a lane was replaced.
    func replaceSpentLanes(dataListenersOpen: Bool) throws -> Bool {
        guard configuration.reconnect != nil, laneOpener != nil else {
            if !cannotReplaceTold, lanes.contains(where: \.wantsReplacement) {
                cannotReplaceTold = true
                logger.notice("ServerAlive: this SSH session cannot be replaced (Reconnect no, or a login that cannot be reused without asking); after \(configuration.keepaliveProbeBudget) keepalives only TCP_USER_TIMEOUT notices a server that stops acknowledging")
            }
            return false
        }
        guard !dataListenersOpen, !reconnector.isReconnecting else { return false }
        guard let lane = lanes.first(where: { $0.wantsReplacement && $0.isQuiet(Self.movesUnnoticed) }) else { return false }
        let error = SSHError.keepaliveBudgetSpent(probes: lane.probesSent)
        lane.session.disconnect(reason: "ftptunnel: replacing this session (keepalive replies pile up in libssh2)")
        try laneLost(lane, error)
        return true
    }

    /// A control connection that resumes on another session without its client noticing: nothing waits for the
    /// server and nothing waits for the client.
    private static func movesUnnoticed(_ forward: Forward) -> Bool {
        forward.canResumeElsewhere && forward.state == .open && forward.flushedToLocal && forward.filter?.isQuiet == true
    }

    func closeIdleLanes(now: Date) {
        guard lanes.count > 1 else { return }
        for lane in lanes.dropFirst() where lanes.count > 1 {
            guard let idle = lane.idleSince, now.timeIntervalSince(idle) >= Self.idleLaneTimeout else { continue }
            lanes.removeAll { $0 === lane }
            reportState()
            lane.logSummary()
            logger.info("extra SSH session \(lane.number) closed after \(Int(Self.idleLaneTimeout)) s unused")
            lane.session.disconnect(reason: "ftptunnel: session no longer needed")
        }
    }


    /// The loop ends: every lane's forwards are dropped (nothing sent); extra lanes say goodbye.
    func shutDown() -> [Forward] {
        var left = waitingForLane + reconnector.takeSuspended()
        for lane in lanes {
            lane.logSummary()
            left += lane.abandonAll()
        }
        waitingForLane.removeAll()
        for lane in lanes.dropFirst() { lane.session.disconnect(reason: "ftptunnel stopped") }
        lanes.removeAll()
        return left
    }
}
