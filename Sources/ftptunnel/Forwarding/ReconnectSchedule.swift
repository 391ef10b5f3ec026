import Foundation

/// The state of one loop's reconnect after its last SSH session was lost: when the next attempt is due, how many
/// failed in a row, and when to give up. Pure: the loop supplies the clock and the randomness.
struct ReconnectSchedule {
    /// What to do after a failed attempt.
    enum Verdict: Equatable {
        case retry(after: TimeInterval)
        case giveUp
        /// No retry can fix this error (another host key, refused credentials).
        case fatal
    }

    let policy: ReconnectPolicy
    let since: Date
    private(set) var failures = 0
    /// nil while an attempt is under way.
    private(set) var nextAttempt: Date?

    /// The session was lost at `now`: the first attempt waits `firstDelay` (returned); a session ended on
    /// purpose (`immediately`) is replaced at once.
    init(policy: ReconnectPolicy, lostAt now: Date, random: Double, immediately: Bool = false) {
        self.policy = policy
        since = now
        nextAttempt = immediately ? now : now.addingTimeInterval(ReconnectPolicy.delay(beforeAttempt: 0, random: random))
    }

    var firstDelay: TimeInterval { nextAttempt.map { $0.timeIntervalSince(since) } ?? 0 }

    /// True when an attempt should start now (it is then marked under way).
    mutating func startAttemptIfDue(now: Date) -> Bool {
        guard let due = nextAttempt, now >= due else { return false }
        nextAttempt = nil
        return true
    }

    mutating func attemptFailed(_ error: Error, now: Date, random: Double) -> Verdict {
        if ReconnectPolicy.isFatal(error) { return .fatal }
        failures += 1
        if policy.isExhausted(after: failures) { return .giveUp }
        let delay = ReconnectPolicy.delay(beforeAttempt: failures, random: random)
        nextAttempt = now.addingTimeInterval(delay)
        return .retry(after: delay)
    }

    /// Seconds from the loss to `now`.
    func downtime(now: Date) -> TimeInterval { now.timeIntervalSince(since) }
}
