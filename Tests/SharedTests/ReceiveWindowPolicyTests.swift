import Testing
@testable import Shared

/// `DataWindow auto`'s decisions (pure): grow while window-limited and drained, never for a slow reader.
@Suite struct ReceiveWindowPolicyTests {
    static let start = 2 << 20
    static let read = 256 << 10

    /// Feeds reads of `read` bytes that leave the window dry (the server always waits for us) for `bytes` in all.
    static func windowLimited(_ policy: inout ReceiveWindowPolicy, bytes: Int, drains: Bool = true) -> [Int] {
        var grants: [Int] = []
        var received = 0
        while received < bytes {
            grants.append(policy.afterRead(bytes: read, windowLeft: 0, localDrains: drains))
            received += read
        }
        return grants
    }

    @Test func doublesOncePerWindowWhileWindowLimited() {
        var policy = ReceiveWindowPolicy(initial: Self.start, maximum: 128 << 20)
        _ = Self.windowLimited(&policy, bytes: Self.start)
        #expect(policy.target == 4 << 20)
        _ = Self.windowLimited(&policy, bytes: 4 << 20)
        #expect(policy.target == 8 << 20)
        _ = Self.windowLimited(&policy, bytes: 1 << 30)
        #expect(policy.target == 128 << 20, "capped at the maximum")
    }

    @Test func grantsTopUpsOnlyAboveTheInitialWindow() {
        var policy = ReceiveWindowPolicy(initial: Self.start, maximum: 128 << 20)
        #expect(policy.afterRead(bytes: Self.read, windowLeft: 1 << 20, localDrains: true) == 0, "libssh2 tops up to the initial window itself")
        let grants = Self.windowLimited(&policy, bytes: Self.start)
        #expect(grants.last == 4 << 20, "a dry window is topped up to the new target")
        #expect(policy.afterRead(bytes: Self.read, windowLeft: 3 << 20, localDrains: true) == 0, "more than half the target left")
        #expect(policy.afterRead(bytes: Self.read, windowLeft: 1 << 20, localDrains: true) == 3 << 20)
    }

    @Test func aWindowThatNeverRunsDryDoesNotGrow() {
        var policy = ReceiveWindowPolicy(initial: Self.start, maximum: 128 << 20)
        for _ in 0..<10_000 { _ = policy.afterRead(bytes: Self.read, windowLeft: 1 << 20, localDrains: true) }
        #expect(policy.target == Self.start)
    }

    /// A slow local reader: no growth, and a grown window falls back to the initial one.
    @Test func aSlowReaderKeepsASmallWindow() {
        var policy = ReceiveWindowPolicy(initial: Self.start, maximum: 128 << 20)
        let grants = Self.windowLimited(&policy, bytes: 64 << 20, drains: false)
        #expect(policy.target == Self.start && grants.allSatisfy { $0 == 0 })
        _ = Self.windowLimited(&policy, bytes: 16 << 20)
        #expect(policy.target > Self.start)
        #expect(policy.afterRead(bytes: Self.read, windowLeft: 0, localDrains: false) == 0)
        #expect(policy.target == Self.start)
    }
}
