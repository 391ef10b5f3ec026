import Testing
@testable import ftptunnel

/// The pure ServerAlive decision logic (OpenSSH's server_alive_check), driven by a fake clock and byte counter.
@Suite struct ServerAliveMonitorTests {
    /// Runs a silent server from t = 0, sending every probe asked for; returns the probe times and the time of death.
    static func silentRun(interval: Int, countMax: Int) -> (probes: [Double], dead: Double?) {
        var monitor = ServerAliveMonitor(interval: interval, countMax: countMax, now: 0, received: 0)
        var probes: [Double] = []
        var now = 0.0
        while now < 1000 {
            switch monitor.decision(now: now) {
            case .wait(let until): now = until
            case .probe: probes.append(now); monitor.probed(sent: true)
            case .dead: return (probes, now)
            }
        }
        return (probes, nil)
    }

    @Test(arguments: [2, 3, 15], [0, 1, 2, 3])
    func silenceProbesEveryIntervalAndIsDeadAfterCountMaxPlusOneIntervals(interval: Int, countMax: Int) {
        let (probes, dead) = Self.silentRun(interval: interval, countMax: countMax)
        let step = Double(interval)
        #expect(probes == (0..<countMax).map { Double($0 + 1) * step })
        #expect(dead == step * Double(countMax + 1))
    }

    @Test func intervalsBelowLibssh2sShortestActAsTwoSeconds() {
        #expect(ServerAliveMonitor(interval: 1, countMax: 2, now: 0, received: 0).interval == 2)
        #expect(Self.silentRun(interval: 1, countMax: 2) == ([2, 4], 6))
        #expect(ServerAliveMonitor(interval: 1, countMax: -1, now: 0, received: 0).countMax == 0)
    }

    @Test func anyByteFromTheServerAnswersAndRestartsTheCount() {
        var monitor = ServerAliveMonitor(interval: 2, countMax: 2, now: 100, received: 500)
        #expect(monitor.decision(now: 101.9) == .wait(until: 102))
        #expect(monitor.decision(now: 102) == .probe)
        monitor.probed(sent: true)
        #expect(monitor.decision(now: 103) == .wait(until: 104))
        #expect(monitor.observe(received: 500, now: 103.5) == false, "no new byte: no answer")
        #expect(monitor.observe(received: 548, now: 103.5) == true, "the reply answered one outstanding probe")
        #expect(monitor.unanswered == 0)
        #expect(monitor.decision(now: 105.4) == .wait(until: 105.5))
        #expect(monitor.observe(received: 600, now: 104) == false, "traffic without a probe outstanding is no answer")
        #expect(monitor.decision(now: 105.9) == .wait(until: 106))
    }

    @Test func steadyTrafficNeverProbes() {
        var monitor = ServerAliveMonitor(interval: 2, countMax: 1, now: 0, received: 0)
        for second in 1...600 {
            let now = Double(second) * 1.5
            monitor.observe(received: second, now: now)
            guard case .wait = monitor.decision(now: now) else { Issue.record("probe or death at \(now)"); return }
        }
        #expect(monitor.probesSent == 0)
    }

    @Test func deathReportsTheSilenceInSeconds() {
        var monitor = ServerAliveMonitor(interval: 2, countMax: 1, now: 10, received: 0)
        monitor.probed(sent: true)
        #expect(monitor.decision(now: 13.9) == .wait(until: 14))
        #expect(monitor.decision(now: 14.2) == .dead(silentSeconds: 4))
    }

    /// A probe that could not be sent still counts (OpenSSH queues it) but spends no budget.
    @Test func unsentProbesCountTowardsDeathButNotTheBudget() {
        var monitor = ServerAliveMonitor(interval: 2, countMax: 2, probeLimit: 1, now: 0, received: 0)
        monitor.probed(sent: false)
        monitor.probed(sent: false)
        #expect(monitor.probesSent == 0)
        #expect(!monitor.isRetired)
        #expect(monitor.decision(now: 6) == .dead(silentSeconds: 6))
    }

    @Test func retiresAfterTheProbeBudget() {
        var monitor = ServerAliveMonitor(interval: 2, countMax: 3, probeLimit: 2, now: 0, received: 0)
        monitor.probed(sent: true)
        monitor.observe(received: 1, now: 2.1)
        monitor.probed(sent: true)
        #expect(monitor.isRetired)
        #expect(monitor.decision(now: 1e6) == .wait(until: .infinity))
        #expect(monitor.pollTimeout(now: 5) == Int32.max)
        #expect(ServerAliveMonitor.defaultProbeLimit == 1024)
    }

    /// Replacement is wanted from three quarters of the budget on, while probing (and judging) goes on to its end.
    @Test func wantsReplacementBeforeTheBudgetRunsOut() {
        var monitor = ServerAliveMonitor(interval: 2, countMax: 1, probeLimit: 8, now: 0, received: 0)
        #expect(monitor.replaceAfter == 6)
        var received = 0
        for probe in 1...8 {
            #expect(monitor.decision(now: Double(probe * 3)) == .probe, "probe \(probe)")
            monitor.probed(sent: true)
            #expect(monitor.wantsReplacement == (probe >= 6), "after \(probe) probes")
            #expect(monitor.isRetired == (probe == 8))
            received += 1
            monitor.observe(received: received, now: Double(probe * 3) + 0.1)
        }
        #expect(monitor.decision(now: 1e6) == .wait(until: .infinity))
        #expect(ServerAliveMonitor(interval: 2, countMax: 1, probeLimit: 1, now: 0, received: 0).replaceAfter == 1)
    }

    @Test func pollWaitsUntilTheDeadline() {
        var monitor = ServerAliveMonitor(interval: 5, countMax: 2, now: 0, received: 0)
        #expect(monitor.pollTimeout(now: 1) == 4001)
        monitor.probed(sent: true)
        #expect(monitor.pollTimeout(now: 5) == 5001)
        #expect(monitor.pollTimeout(now: 12) == 1, "overdue: poll without waiting (plus the 1 ms rounding)")
    }

    /// While the loop leaves a full socket unread (every local side is full), the server is not judged.
    @Test func aSocketLeftUnreadByUsIsNoSilence() {
        var monitor = ServerAliveMonitor(interval: 2, countMax: 1, now: 0, received: 0)
        monitor.probed(sent: true)
        #expect(monitor.observe(received: 0, heldBack: true, now: 3.5) == true)
        #expect(monitor.unanswered == 0)
        #expect(monitor.decision(now: 5) == .wait(until: 5.5))
        #expect(monitor.decision(now: 5.5) == .probe)
        monitor.probed(sent: true)
        #expect(monitor.observe(received: 0, now: 7) == false)
        #expect(monitor.decision(now: 7.5) == .dead(silentSeconds: 4))
        #expect(ServerAliveMonitor.heldBackBytes > ServerAliveMonitor.defaultProbeLimit * 48, "unread replies alone never count as held back")
    }

    /// The loop may look long after the bytes came (nothing woke it): the kernel's "heard ago" dates the answer.
    @Test func aLateLookDatesTheAnswerByTheKernelsClock() {
        var monitor = ServerAliveMonitor(interval: 2, countMax: 2, now: 0, received: 0)
        #expect(monitor.observe(received: 48, heardAgo: 1.5, now: 2) == false)
        #expect(monitor.lastHeard == 0.5)
        #expect(monitor.decision(now: 2.25) == .wait(until: 2.5))
        // Never earlier than what was already heard, never in the future.
        monitor.observe(received: 96, heardAgo: 5, now: 3)
        #expect(monitor.lastHeard == 0.5)
        monitor.observe(received: 144, heardAgo: -1, now: 4)
        #expect(monitor.lastHeard == 4)
    }
}
