import Foundation
import Logging

/// Reconnect bookkeeping of one forwarding loop (`Reconnect yes`), on the loop's thread: the schedule of attempts
/// once the last SSH session is lost, the control connections suspended until a session is back, when each
/// connection queued meanwhile arrived, and the limits on both waits. Which lane a connection goes to, and opening
/// the session itself, stay with `SessionSupervisor`.
final class Reconnector {
    private unowned let host: LaneHost
    /// nil: `Reconnect no` (a lost last session ends the loop; nothing waits here).
    let policy: ReconnectPolicy?
    private let logger: Logger
    /// Set while no lane is left and the loop reconnects.
    private(set) var schedule: ReconnectSchedule?
    /// Control connections waiting for their session to come back.
    private(set) var suspended: [Forward] = []
    /// Connections queued while no session exists, with the time they arrived.
    private var arrivedWhileDisconnected: [ObjectIdentifier: Date] = [:]

    init(host: LaneHost, policy: ReconnectPolicy?, logger: Logger) {
        self.host = host
        self.policy = policy
        self.logger = logger
    }

    var isReconnecting: Bool { schedule != nil }

    /// The last lane was lost at `now`: attempts start, at once for a session ended on purpose (`immediately`).
    func begin(policy: ReconnectPolicy, now: Date, immediately: Bool) -> ReconnectSchedule {
        let schedule = ReconnectSchedule(policy: policy, lostAt: now, random: Double.random(in: 0...1), immediately: immediately)
        self.schedule = schedule
        return schedule
    }

    /// Milliseconds until the next attempt or the next check of the waits' limits (nil: not reconnecting).
    func nextTimeout(now: Date) -> Int32? {
        guard let schedule else { return nil }
        // Waiting clients and suspended sessions are checked against their limits once a second.
        var timeout: Int32 = 1000
        if let due = schedule.nextAttempt { timeout = min(timeout, ForwardingLoop.milliseconds(until: due, now: now)) }
        return timeout
    }

    /// True when the next attempt should start now (it is then under way).
    func attemptIsDue(now: Date) -> Bool {
        guard schedule?.startAttemptIfDue(now: now) == true else { return false }
        if let failures = schedule?.failures, failures > 0 { logger.notice("reconnecting (attempt \(failures + 1))") }
        return true
    }

    /// A session is back: the seconds it was gone (nil: no reconnect was under way).
    func succeeded(now: Date) -> TimeInterval? {
        guard let schedule else { return nil }
        self.schedule = nil
        return schedule.downtime(now: now)
    }

    /// An attempt failed: the next one is scheduled (`reportState` says so), or the error is thrown when no retry can
    /// fix it or ReconnectAttempts are spent.
    func attemptFailed(_ error: Error, now: Date, reportState: (String) -> Void) throws {
        guard var schedule else { return }
        let verdict = schedule.attemptFailed(error, now: now, random: Double.random(in: 0...1))
        self.schedule = schedule
        switch verdict {
        case .fatal:
            throw error
        case .giveUp:
            logger.error("giving up after \(schedule.failures) failed reconnect attempt(s) (ReconnectAttempts)")
            throw error
        case .retry(let delay):
            reportState("reconnecting (attempt \(schedule.failures) failed: \(error))")
            logger.notice("reconnect attempt \(schedule.failures) failed (\(error)); next in \(String(format: "%.1f", delay)) s")
        }
    }

    /// A control connection whose session was lost waits here for the next one.
    func suspend(_ forward: Forward) {
        suspended.append(forward)
    }

    /// The suspended connections, to resume on a lane (none stay here).
    func takeSuspended() -> [Forward] {
        let taken = suspended
        suspended.removeAll()
        return taken
    }

    /// `forward` was queued at `now` while no session exists.
    func arrived(_ forward: Forward, at now: Date) {
        arrivedWhileDisconnected[ObjectIdentifier(forward)] = now
    }

    /// `forward` got a lane: it no longer waits for the session.
    func placed(_ forward: Forward) {
        arrivedWhileDisconnected[ObjectIdentifier(forward)] = nil
    }

    /// Connections that waited too long for a session (`waiting`: the ones queued for a lane): a control connection
    /// is told 421, a data connection closed.
    func refuseOverdue(waiting: [Forward], now: Date) {
        guard let policy else { return }
        for forward in waiting where schedule != nil {
            guard let arrived = arrivedWhileDisconnected[ObjectIdentifier(forward)],
                  now.timeIntervalSince(arrived) >= policy.waitForSession else { continue }
            refuse(forward, reason: "421 The tunnel's SSH session is reconnecting; try again shortly.")
        }
        for forward in suspended {
            guard case .suspended(let since) = forward.state, now.timeIntervalSince(since) >= policy.suspendedLimit else { continue }
            refuse(forward, reason: "421 The tunnel could not get its SSH session back within \(Int(policy.suspendedLimit)) s; closing.")
        }
        suspended.removeAll { $0.isDone || $0.closeWhenFlushed }
    }

    private func refuse(_ forward: Forward, reason: String) {
        arrivedWhileDisconnected[ObjectIdentifier(forward)] = nil
        if forward.filter != nil {
            forward.queueToLocal(Array(reason.utf8) + [13, 10])
            forward.handle(.closeAfterFlush)
        } else if forward.handle(.end) == .finish {
            host.finish(forward)
        }
    }
}
