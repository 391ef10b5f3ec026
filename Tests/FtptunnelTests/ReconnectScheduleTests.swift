import Foundation
import Testing
@testable import ftptunnel

/// The reconnect backoff and its give-up rules (pure).
@Suite struct ReconnectScheduleTests {
    @Test func backoffDoublesFromOneSecondToThirtyWithJitter() {
        let middle = (0..<8).map { ReconnectPolicy.delay(beforeAttempt: $0, random: 0.5) }
        #expect(middle == [1, 2, 4, 8, 16, 30, 30, 30])
        #expect(ReconnectPolicy.delay(beforeAttempt: 0, random: 0) == 0.8)
        #expect(abs(ReconnectPolicy.delay(beforeAttempt: 10, random: 1) - 36) < 1e-9)
        #expect(ReconnectPolicy.delay(beforeAttempt: 1_000_000, random: 0.5) == 30)
    }

    @Test func attemptsStartWhenDueAndOnlyOnce() {
        let start = Date(timeIntervalSince1970: 1000)
        var schedule = ReconnectSchedule(policy: ReconnectPolicy(), lostAt: start, random: 0.5)
        #expect(schedule.firstDelay == 1)
        let early = schedule.startAttemptIfDue(now: start.addingTimeInterval(0.9))
        let due = schedule.startAttemptIfDue(now: start.addingTimeInterval(1))
        let again = schedule.startAttemptIfDue(now: start.addingTimeInterval(100))
        #expect(!early && due)
        #expect(!again, "an attempt is under way")
        let error = SSHError.connectFailed(host: "h", port: 22, reason: "refused")
        let verdict = schedule.attemptFailed(error, now: start.addingTimeInterval(2), random: 0.5)
        #expect(verdict == .retry(after: 2))
        let next = schedule.startAttemptIfDue(now: start.addingTimeInterval(4))
        #expect(next)
    }

    /// A session replaced on purpose (ServerAlive's budget) is reconnected at once; a failure then backs off as
    /// usual, and the replacement itself is never fatal.
    @Test func aPlannedReplacementStartsAtOnceAndThenBacksOff() {
        let start = Date(timeIntervalSince1970: 1000)
        var schedule = ReconnectSchedule(policy: ReconnectPolicy(), lostAt: start, random: 0.5, immediately: true)
        #expect(schedule.firstDelay == 0)
        let due = schedule.startAttemptIfDue(now: start)
        #expect(due)
        let error = SSHError.connectFailed(host: "h", port: 22, reason: "refused")
        let verdict = schedule.attemptFailed(error, now: start, random: 0.5)
        #expect(verdict == .retry(after: 2))
        #expect(!ReconnectPolicy.isFatal(SSHError.keepaliveBudgetSpent(probes: 768)))
    }

    @Test func attemptsAreBoundedWhenAsked() {
        var schedule = ReconnectSchedule(policy: ReconnectPolicy(attempts: 2), lostAt: Date(), random: 0)
        let error = SSHError.connectFailed(host: "h", port: 22, reason: "refused")
        let first = schedule.attemptFailed(error, now: Date(), random: 0)
        let second = schedule.attemptFailed(error, now: Date(), random: 0)
        #expect(first != .giveUp)
        #expect(second == .giveUp)
    }

    @Test func aDifferentHostKeyOrARefusedCredentialIsNeverRetried() {
        var schedule = ReconnectSchedule(policy: ReconnectPolicy(), lostAt: Date(), random: 0)
        let hostKey = schedule.attemptFailed(SessionPoolError.hostKeyDiffers(session: 0, first: "a", presented: "b"), now: Date(), random: 0)
        let credential = schedule.attemptFailed(SessionPoolError.credentialRefused(method: "key"), now: Date(), random: 0)
        #expect(hostKey == .fatal)
        #expect(credential == .fatal)
        #expect(schedule.failures == 0)
    }
}
