import Testing
@testable import Shared

/// `DataWindow auto`'s decisions (pure): grow while the network is the bottleneck and the client keeps up, never
/// for a slow reader, never on a short round trip.
@Suite struct ReceiveWindowPolicyTests {
    static let start = 2 << 20
    static let read = 256 << 10
    /// A 200 ms round trip.
    static let roundTrip = 0.2

    /// A fake monotonic clock and the policy under test.
    struct Channel {
        var policy = ReceiveWindowPolicy(initial: ReceiveWindowPolicyTests.start, maximum: 128 << 20,
                                         roundTrip: ReceiveWindowPolicyTests.roundTrip)
        var now = 1000.0

        init(roundTrip: Double = ReceiveWindowPolicyTests.roundTrip) {
            policy = ReceiveWindowPolicy(initial: ReceiveWindowPolicyTests.start, maximum: 128 << 20, roundTrip: roundTrip)
        }

        /// Reads of `read` bytes that each empty the channel (the network is the bottleneck), `bytes` in all,
        /// arriving at the rate a window-limited link gives (one target per round trip) unless `secondsPerRead`
        /// is given; libssh2 keeps the window at `windowLeft`.
        mutating func networkBound(bytes: Int, windowLeft: Int = 2 << 20, drains: Bool = true, backlog: Int = 0,
                                   secondsPerRead: Double? = nil) -> [Int] {
            var grants: [Int] = []
            var received = 0
            while received < bytes {
                now += secondsPerRead ?? policy.roundTrip * Double(ReceiveWindowPolicyTests.read) / Double(policy.target)
                grants.append(read(windowLeft: windowLeft, drained: true, drains: drains, backlog: backlog))
                received += ReceiveWindowPolicyTests.read
            }
            return grants
        }

        mutating func read(windowLeft: Int, drained: Bool, drains: Bool, backlog: Int = 0) -> Int {
            policy.afterRead(bytes: ReceiveWindowPolicyTests.read, windowLeft: windowLeft, channelDrained: drained,
                             localDrains: drains, localBacklog: backlog, now: now)
        }
    }

    @Test func doublesOncePerWindowWhileNetworkBound() {
        var channel = Channel()
        _ = channel.networkBound(bytes: Self.start)
        #expect(channel.policy.target == 4 << 20)
        _ = channel.networkBound(bytes: 4 << 20)
        #expect(channel.policy.target == 8 << 20)
        _ = channel.networkBound(bytes: 1 << 30)
        #expect(channel.policy.target == 128 << 20, "capped at the maximum")
    }

    @Test func topsUpToTheTargetAboveTheInitialWindow() {
        var channel = Channel()
        #expect(channel.read(windowLeft: 1 << 20, drained: true, drains: true) == 0,
                "libssh2 tops up to the initial window itself")
        let grants = channel.networkBound(bytes: Self.start - Self.read)
        #expect(grants.last == 2 << 20, "the window is brought to the new target of 4 MiB")
        #expect(channel.read(windowLeft: 3 << 20 + 1, drained: false, drains: true) == 0, "less than a quarter used")
        #expect(channel.read(windowLeft: 3 << 20, drained: false, drains: true) == 1 << 20)
    }

    /// On a fast link the reader is the bottleneck (libssh2 always holds more): no growth is needed.
    @Test func aCPUBoundTransferDoesNotGrow() {
        var channel = Channel()
        for _ in 0..<10_000 {
            channel.now += 0.001
            _ = channel.read(windowLeft: 2 << 20, drained: false, drains: true)
        }
        #expect(channel.policy.target == Self.start)
    }

    /// A slow local reader: no growth, and a grown window falls back to the initial one.
    @Test func aSlowReaderKeepsASmallWindow() {
        var channel = Channel()
        let grants = channel.networkBound(bytes: 64 << 20, drains: false)
        #expect(channel.policy.target == Self.start && grants.allSatisfy { $0 == 0 })
        _ = channel.networkBound(bytes: 16 << 20)
        let grown = channel.policy.target
        #expect(grown > Self.start)
        // A moment of backpressure: no top-up, but the growth stays.
        #expect(channel.read(windowLeft: 0, drained: true, drains: false) == 0)
        #expect(channel.policy.target == grown)
        // Behind for good: back to the initial window.
        for _ in 1..<ReceiveWindowPolicy.slowReadsBeforeShrinking {
            #expect(channel.read(windowLeft: 0, drained: true, drains: false) == 0)
        }
        #expect(channel.policy.target == Self.start)
    }

    /// A slow client behind the kernel's socket buffers: ftptunnel's buffer drains (the kernel takes it), the
    /// channel empties, but what was handed on waits in the socket's send queue. The window must not grow.
    @Test func aSlowReaderHiddenByKernelBuffersDoesNotGrow() {
        var channel = Channel()
        let grants = channel.networkBound(bytes: 64 << 20, backlog: 3 << 19)
        #expect(channel.policy.target == Self.start && grants.allSatisfy { $0 == 0 })
        _ = channel.networkBound(bytes: 8 << 20, backlog: Self.start / 2)
        #expect(channel.policy.target == Self.start, "half a window waiting locally is already too much")
    }

    /// A client that takes what it is handed (a read's worth in flight at most) lets the window grow as before.
    @Test func aPromptReaderGrowsDespiteAReadInFlight() {
        var channel = Channel()
        _ = channel.networkBound(bytes: Self.start, backlog: Self.read)
        #expect(channel.policy.target == 4 << 20)
        _ = channel.networkBound(bytes: 4 << 20, backlog: 1 << 20)
        #expect(channel.policy.target == 8 << 20, "a backlog small against the grown target does not stop it")
        _ = channel.networkBound(bytes: 64 << 20, backlog: 4 << 20)
        #expect(channel.policy.target == 8 << 20, "half a window behind: growth stops where it is")
    }

    /// Loopback: the channel empties and the client keeps up, but a window's worth takes far longer than a round
    /// trip (the CPU is the limit, or a slow client's kernel buffers are filling): the window stays as it is.
    @Test func aShortRoundTripNeverGrows() {
        var channel = Channel(roundTrip: 0.0005)
        let grants = channel.networkBound(bytes: 256 << 20, secondsPerRead: 0.001)
        #expect(channel.policy.target == Self.start && grants.allSatisfy { $0 == 0 })
    }

    /// A long round trip where the transfer becomes CPU-bound: growth stops once a window lasts over two round
    /// trips (here 8 MiB at 40 MB/s and 200 ms), so the window is not larger than the link needs.
    @Test func growthStopsWhereTheWindowNoLongerLimits() {
        var channel = Channel()
        _ = channel.networkBound(bytes: 6 << 20)
        #expect(channel.policy.target == 8 << 20)
        let secondsPerRead = Double(Self.read) / 40e6
        _ = channel.networkBound(bytes: 256 << 20, secondsPerRead: secondsPerRead)
        #expect(channel.policy.target == 16 << 20, "8 MiB in 0.21 s ≤ 0.4 s grows once; 16 MiB takes 0.42 s")
    }

    /// Two round trips is the bound: a window's worth that takes just longer does not double the target.
    @Test func theTwoRoundTripBound() {
        var grows = Channel()
        _ = grows.networkBound(bytes: Self.start, secondsPerRead: 2 * Self.roundTrip / 8.5)
        #expect(grows.policy.target == 4 << 20)
        var stays = Channel()
        _ = stays.networkBound(bytes: Self.start, secondsPerRead: 2 * Self.roundTrip / 6)
        #expect(stays.policy.target == Self.start)
    }
}
