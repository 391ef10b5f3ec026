import Foundation
import Logging

/// ServerAlive on one lane (ServerAliveInterval/ServerAliveCountMax): whether the server still answers, when a
/// probe is due, and the session's probe budget (libssh2 1.10 keeps every reply), which first asks for the session's
/// replacement and then retires the checks. The probe itself is sent by the lane, under its pending-send rule.
struct LaneAliveCheck {
    /// nil: off, or retired after its probe budget.
    private var monitor: ServerAliveMonitor?
    private let logger: Logger
    /// The probe budget is nearly spent: the supervisor replaces this session once nothing runs on it.
    private(set) var wantsReplacement = false
    /// Probes sent on this session (each leaves a reply inside libssh2).
    private(set) var probesSent = 0

    /// `interval` 0: no checks (`received`: the bytes the server sent so far).
    init(interval: Int, countMax: Int, probeBudget: Int, received: Int, logger: Logger) {
        self.logger = logger
        if interval > 0 {
            monitor = ServerAliveMonitor(interval: interval, countMax: countMax, probeLimit: probeBudget,
                                         now: ServerAliveMonitor.now, received: received)
        }
    }

    /// The checks run (ServerAliveInterval set, budget not spent).
    var isOn: Bool { monitor != nil }

    /// Milliseconds until the checks must look again (Int32.max: off).
    func pollTimeout() -> Int32 {
        monitor?.pollTimeout(now: ServerAliveMonitor.now) ?? Int32.max
    }

    /// A probe is due now.
    var probeDue: Bool { monitor?.decision(now: ServerAliveMonitor.now) == .probe }

    /// Before the lane's calls: any byte from the server answers (`heldBack`: the lane leaves unread bytes in the
    /// socket because every local side is full, which answers too); a due probe that cannot be sent now
    /// (`canProbe` false) counts as sent (see `ServerAliveMonitor`); silence past ServerAliveInterval ×
    /// (ServerAliveCountMax + 1) throws `SSHError.serverNotAnswering`. A due probe that can be sent is left to the
    /// end of the lane's calls.
    mutating func check(received: Int, heardAgo: TimeInterval, heldBack: Bool, canProbe: @autoclosure () -> Bool) throws {
        guard var monitor else { return }
        let now = ServerAliveMonitor.now
        if monitor.observe(received: received, heardAgo: heardAgo, heldBack: heldBack, now: now) {
            logger.debug("server-alive probe answered")
        }
        switch monitor.decision(now: now) {
        case .dead(let silent): throw SSHError.serverNotAnswering(seconds: silent)
        case .probe where !canProbe(): monitor.probed(sent: false)
        case .probe, .wait: break
        }
        self.monitor = monitor
        noteProbeBudget(monitor)
    }

    /// A first attempt at a probe finished (`sent` false: libssh2's timer held it back); not for its retries.
    mutating func probed(sent: Bool) {
        monitor?.probed(sent: sent)
        if sent { probesSent += 1 }
        if let monitor { noteProbeBudget(monitor) }
        logger.debug("server-alive probe \(sent ? "sent" : "held back by libssh2")",
                     metadata: ["unanswered": "\(monitor?.unanswered ?? 0)"])
    }

    /// Asks for replacement once the budget is nearly spent, and retires the monitor (said at once: nothing wakes
    /// an idle loop afterwards) when it is spent.
    private mutating func noteProbeBudget(_ monitor: ServerAliveMonitor) {
        if monitor.wantsReplacement, !wantsReplacement {
            wantsReplacement = true
            logger.info("ServerAlive: \(monitor.probesSent) keepalives sent on this session (libssh2 1.10 keeps every reply); replacing it once nothing runs on it")
        }
        if monitor.isRetired {
            self.monitor = nil
            logger.notice("ServerAlive: no more probes on this session after \(monitor.probesSent) (libssh2 1.10 keeps every reply) while it could not be replaced; until it is, only TCP_USER_TIMEOUT ends it if the server stops acknowledging")
        }
    }
}
