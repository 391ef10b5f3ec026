import Testing
@testable import Shared

/// `DataWindow auto`'s decisions (pure): grow while the network is the bottleneck and the client keeps up, never
/// for a slow reader.
@Suite struct ReceiveWindowPolicyTests {
    static let start = 2 << 20
    static let read = 256 << 10

    /// Reads of `read` bytes that each empty the channel (the network is the bottleneck), `bytes` in all; libssh2
    /// keeps the window at `windowLeft`.
    static func networkBound(_ policy: inout ReceiveWindowPolicy, bytes: Int, windowLeft: Int = 2 << 20,
                             drains: Bool = true) -> [Int] {
        var grants: [Int] = []
        var received = 0
        while received < bytes {
            grants.append(policy.afterRead(bytes: read, windowLeft: windowLeft, channelDrained: true, localDrains: drains))
            received += read
        }
        return grants
    }

    @Test func doublesOncePerWindowWhileNetworkBound() {
        var policy = ReceiveWindowPolicy(initial: Self.start, maximum: 128 << 20)
        _ = Self.networkBound(&policy, bytes: Self.start)
        #expect(policy.target == 4 << 20)
        _ = Self.networkBound(&policy, bytes: 4 << 20)
        #expect(policy.target == 8 << 20)
        _ = Self.networkBound(&policy, bytes: 1 << 30)
        #expect(policy.target == 128 << 20, "capped at the maximum")
    }

    @Test func topsUpToTheTargetAboveTheInitialWindow() {
        var policy = ReceiveWindowPolicy(initial: Self.start, maximum: 128 << 20)
        #expect(policy.afterRead(bytes: Self.read, windowLeft: 1 << 20, channelDrained: true, localDrains: true) == 0,
                "libssh2 tops up to the initial window itself")
        let grants = Self.networkBound(&policy, bytes: Self.start)
        #expect(grants.last == 2 << 20, "the window is brought to the new target of 4 MiB")
        #expect(policy.afterRead(bytes: Self.read, windowLeft: 3 << 20 + 1, channelDrained: false, localDrains: true) == 0,
                "less than a quarter used")
        #expect(policy.afterRead(bytes: Self.read, windowLeft: 3 << 20, channelDrained: false, localDrains: true) == 1 << 20)
    }

    /// On a fast link the reader is the bottleneck (libssh2 always holds more): no growth is needed.
    @Test func aCPUBoundTransferDoesNotGrow() {
        var policy = ReceiveWindowPolicy(initial: Self.start, maximum: 128 << 20)
        for _ in 0..<10_000 { _ = policy.afterRead(bytes: Self.read, windowLeft: 2 << 20, channelDrained: false, localDrains: true) }
        #expect(policy.target == Self.start)
    }

    /// A slow local reader: no growth, and a grown window falls back to the initial one.
    @Test func aSlowReaderKeepsASmallWindow() {
        var policy = ReceiveWindowPolicy(initial: Self.start, maximum: 128 << 20)
        let grants = Self.networkBound(&policy, bytes: 64 << 20, drains: false)
        #expect(policy.target == Self.start && grants.allSatisfy { $0 == 0 })
        _ = Self.networkBound(&policy, bytes: 16 << 20)
        let grown = policy.target
        #expect(grown > Self.start)
        // A moment of backpressure: no top-up, but the growth stays.
        #expect(policy.afterRead(bytes: Self.read, windowLeft: 0, channelDrained: true, localDrains: false) == 0)
        #expect(policy.target == grown)
        // Behind for good: back to the initial window.
        for _ in 1..<ReceiveWindowPolicy.slowReadsBeforeShrinking {
            #expect(policy.afterRead(bytes: Self.read, windowLeft: 0, channelDrained: true, localDrains: false) == 0)
        }
        #expect(policy.target == Self.start)
    }
}
