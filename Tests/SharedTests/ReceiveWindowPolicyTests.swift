import Testing
@testable import TunnelCore

/// `DataWindow auto`'s decisions (pure), first call by call, then over a model of a link: grow while the window
/// limits the transfer, settle where something else does, never for a slow client, never on a short round trip.
@Suite struct ReceiveWindowPolicyTests {
    static let start = 2 << 20
    static let read = 256 << 10

    @Test func topsUpToTheTargetOnlyAboveTheInitialWindow() {
        var policy = ReceiveWindowPolicy(initial: Self.start, maximum: 128 << 20, roundTrip: 0.1)
        #expect(policy.afterRead(windowLeft: 1 << 20, channelDrained: true, localDrains: true, taken: 0, now: 0) == 0,
                "libssh2 tops up to the initial window itself")
        // One round trip in which the client took the whole window: the target doubles.
        _ = policy.afterRead(windowLeft: 2 << 20, channelDrained: true, localDrains: true, taken: 2 << 20, now: 0.1)
        #expect(policy.target == 4 << 20)
        #expect(policy.afterRead(windowLeft: 3 << 20 + 1, channelDrained: false, localDrains: true, taken: 2 << 20,
                                 now: 0.15) == 0, "less than a quarter used")
        #expect(policy.afterRead(windowLeft: 3 << 20, channelDrained: false, localDrains: true, taken: 2 << 20,
                                 now: 0.16) == 1 << 20)
        #expect(policy.afterRead(windowLeft: 0, channelDrained: true, localDrains: false, taken: 2 << 20,
                                 now: 0.17) == 0, "no top-up while the client is behind")
    }

    @Test func halfTheWindowPerRoundTripIsTheBound() {
        var grows = ReceiveWindowPolicy(initial: Self.start, maximum: 128 << 20, roundTrip: 0.1)
        _ = grows.afterRead(windowLeft: 0, channelDrained: true, localDrains: true, taken: 0, now: 0)
        _ = grows.afterRead(windowLeft: 0, channelDrained: true, localDrains: true, taken: 1 << 20, now: 0.1)
        #expect(grows.target == 4 << 20)
        var stays = ReceiveWindowPolicy(initial: Self.start, maximum: 128 << 20, roundTrip: 0.1)
        _ = stays.afterRead(windowLeft: 0, channelDrained: true, localDrains: true, taken: 0, now: 0)
        _ = stays.afterRead(windowLeft: 0, channelDrained: true, localDrains: true, taken: 1 << 20, now: 0.11)
        #expect(stays.target == Self.start, "1 MiB in 1.1 round trips is under half of 2 MiB per round trip")
    }

    @Test func aChannelThatNeverEmptiedDoesNotGrow() {
        var policy = ReceiveWindowPolicy(initial: Self.start, maximum: 128 << 20, roundTrip: 0.1)
        _ = policy.afterRead(windowLeft: 0, channelDrained: false, localDrains: true, taken: 0, now: 0)
        _ = policy.afterRead(windowLeft: 0, channelDrained: false, localDrains: true, taken: 8 << 20, now: 0.1)
        #expect(policy.target == Self.start, "what libssh2 already holds is this process's limit, not the window's")
    }

    /// A slow local reader: no top-ups, and a grown window falls back to the initial one once it stays behind;
    /// a moment of backpressure does not undo the growth.
    @Test func aClientThatStaysBehindBringsTheWindowBack() {
        var policy = ReceiveWindowPolicy(initial: Self.start, maximum: 128 << 20, roundTrip: 0.1)
        _ = policy.afterRead(windowLeft: 0, channelDrained: true, localDrains: true, taken: 0, now: 0)
        _ = policy.afterRead(windowLeft: 0, channelDrained: true, localDrains: true, taken: 2 << 20, now: 0.1)
        _ = policy.afterRead(windowLeft: 0, channelDrained: true, localDrains: true, taken: 6 << 20, now: 0.2)
        #expect(policy.target == 8 << 20)
        #expect(policy.afterRead(windowLeft: 0, channelDrained: true, localDrains: false, taken: 6 << 20, now: 0.21) == 0)
        #expect(policy.target == 8 << 20)
        for _ in 1..<ReceiveWindowPolicy.slowReadsBeforeShrinking {
            #expect(policy.afterRead(windowLeft: 0, channelDrained: true, localDrains: false, taken: 6 << 20, now: 0.22) == 0)
        }
        #expect(policy.target == Self.start)
    }

    // MARK: Over a model of a link

    @Test func aWindowLimitedTransferDoublesAboutOncePerRoundTrip() {
        var link = LinkModel(roundTrip: 0.2, linkRate: 1e9, loopRate: 200e6)
        link.run(seconds: 1.4)
        #expect(link.policy.target >= 32 << 20, "2 MiB → 32 MiB within 7 round trips (reached \(link.policy.target >> 20) MiB)")
        let before = link.delivered
        link.run(seconds: 1)
        #expect(Double(link.delivered - before) >= 0.9 * 200e6, "then at the loop's rate: \(link.delivered - before) bytes/s")
    }

    /// 100 MB/s at 50 ms: 5 MB per round trip. The window settles between four and eight times that.
    @Test func aLinkLimitedTransferSettlesNearItsBandwidthDelayProduct() {
        var link = LinkModel(roundTrip: 0.05, linkRate: 100e6, loopRate: 400e6)
        link.run(seconds: 4)
        let perRoundTrip = 100e6 * 0.05
        #expect(Double(link.policy.target) >= 4 * perRoundTrip && Double(link.policy.target) <= 8 * perRoundTrip,
                "settled at \(link.policy.target >> 20) MiB")
        #expect(Double(link.delivered) >= 0.9 * 100e6 * 3, "the link is filled once grown")
    }

    /// The loop is the bottleneck (50 MB/s at 200 ms): growth stops once libssh2 holds more than it reads, well
    /// short of the maximum.
    @Test func growthStopsWhereThisProcessIsTheLimit() {
        var link = LinkModel(roundTrip: 0.2, linkRate: 1e9, loopRate: 50e6)
        link.run(seconds: 6)
        #expect(link.policy.target <= 32 << 20, "settled at \(link.policy.target >> 20) MiB")
        #expect(Double(link.delivered) >= 0.8 * 50e6 * 6)
    }

    /// A client reading 1 MB/s at 50 ms behind large kernel buffers (which acknowledge its first MiBs at once): the
    /// window never grows, and libssh2 never holds more than the initial window plus a read.
    @Test func aSlowClientNeverEarnsMoreWindow() {
        var link = LinkModel(roundTrip: 0.05, linkRate: 1e9, loopRate: 200e6, clientRate: 1e6)
        link.run(seconds: 5)
        #expect(link.policy.target == Self.start)
        #expect(link.peakQueued <= Self.start + Self.read, "peak held: \(link.peakQueued)")
    }

    /// A fast client that becomes slow: the grown window falls back, and what libssh2 holds stops growing.
    @Test func aClientThatSlowsDownGivesTheWindowBack() {
        var link = LinkModel(roundTrip: 0.2, linkRate: 1e9, loopRate: 200e6)
        link.run(seconds: 2)
        #expect(link.policy.target > 16 << 20)
        link.clientRate = 1e6
        link.run(seconds: 10)
        #expect(link.policy.target == Self.start)
    }

    /// Loopback: 200 MB/s at half a millisecond is 100 KB per round trip, far under half a window.
    @Test func aShortRoundTripNeverGrows() {
        var link = LinkModel(roundTrip: 0.0005, linkRate: 2e9, loopRate: 200e6)
        link.run(seconds: 2)
        #expect(link.policy.target == Self.start)
        #expect(link.grants == 0, "libssh2's own top-ups suffice")
    }
}

/// A discrete model of one data channel: the sender sends within the window it knows, data and window adjusts
/// each take half the round trip, the loop reads what arrived (256 KiB at a time, as fast as `loopRate`) into a
/// 256 KiB buffer toward the client, libssh2 tops up to the initial window itself, the client's socket accepts up
/// to `kernelBuffer` ahead of a client consuming at `clientRate`. The policy sees what the real loop sees.
struct LinkModel {
    var policy: ReceiveWindowPolicy
    let roundTrip: Double
    let linkRate: Double
    let loopRate: Double
    var clientRate: Double
    let kernelBuffer: Int
    let step = 0.000_5
    var now = 0.0
    var senderWindow: Int
    var inFlightData: [(arrives: Double, bytes: Int)] = []
    var inFlightGrants: [(arrives: Double, bytes: Int)] = []
    /// The receiver's view, as libssh2 1.10 keeps it: granted minus read (what arrived and waits still counts).
    var windowLeft: Int
    var queued = 0
    var toLocal = 0
    var inKernel = 0
    var bytesDown = 0
    /// Bytes the client consumed.
    var delivered = 0
    var peakQueued = 0
    /// Adjustments the policy asked for.
    var grants = 0
    static let buffer = 256 << 10

    init(roundTrip: Double, linkRate: Double, loopRate: Double, clientRate: Double = 1e12, kernelBuffer: Int = 6 << 20) {
        policy = ReceiveWindowPolicy(initial: ReceiveWindowPolicyTests.start, maximum: 128 << 20, roundTrip: roundTrip)
        self.roundTrip = roundTrip
        self.linkRate = linkRate
        self.loopRate = loopRate
        self.clientRate = clientRate
        self.kernelBuffer = kernelBuffer
        senderWindow = ReceiveWindowPolicyTests.start
        windowLeft = ReceiveWindowPolicyTests.start
    }

    mutating func run(seconds: Double) {
        let end = now + seconds
        while now < end { tick() }
    }

    private mutating func tick() {
        now += step
        while let first = inFlightGrants.first, first.arrives <= now {
            senderWindow += first.bytes
            inFlightGrants.removeFirst()
        }
        while let first = inFlightData.first, first.arrives <= now {
            queued += first.bytes
            inFlightData.removeFirst()
        }
        peakQueued = max(peakQueued, queued)
        let sent = min(senderWindow, Int(linkRate * step))
        if sent > 0 {
            senderWindow -= sent
            inFlightData.append((now + roundTrip / 2, sent))
        }
        var budget = Int(loopRate * step)
        while budget > 0, queued > 0, toLocal < Self.buffer {
            let offered = Self.buffer - toLocal
            let n = min(budget, queued, offered)
            budget -= n
            queued -= n
            toLocal += n
            bytesDown += n
            windowLeft -= n
            if windowLeft < policy.initial / 4 * 3 + n { grant(policy.initial + n - windowLeft) }
            handToKernel()
            let (bytesDown, toLocal) = (bytesDown, toLocal)
            // As the loop sees it: the read returned less than it offered, because libssh2 held no more.
            let adjustment = policy.afterRead(windowLeft: windowLeft, channelDrained: queued == 0 && n < offered,
                                              localDrains: toLocal < Self.buffer / 2,
                                              taken: bytesDown - toLocal - inKernel, now: now)
            if adjustment > 0 {
                grants += 1
                grant(adjustment)
            }
        }
        handToKernel()
        let consumed = min(inKernel, Int(clientRate * step))
        inKernel -= consumed
        delivered += consumed
    }

    /// The socket takes what fits in front of the client.
    private mutating func handToKernel() {
        let handed = min(toLocal, kernelBuffer - inKernel)
        toLocal -= handed
        inKernel += handed
    }

    private mutating func grant(_ bytes: Int) {
        windowLeft += bytes
        inFlightGrants.append((now + roundTrip / 2, bytes))
    }
}
