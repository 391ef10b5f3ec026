/// `DataWindow auto`: how much receive window a data channel grants the SSH server, sized by what the transfer
/// shows, in the manner of TCP receive autotuning and HPN-SSH, without a clock.
///
/// A channel starts at `initial`. When the window ran (nearly) dry — the server had to wait for us — and a whole
/// target's worth of data has arrived since the last growth (about one round trip while window-limited), the
/// target doubles, up to `maximum`. It grows only while the local client drains promptly: a slow reader stops
/// the growth and brings the target back to `initial`, so it never holds more than that inside libssh2 for long.
///
/// libssh2 1.10 tops the window up to its *initial* size by itself (in `_libssh2_channel_read`, whenever it fell
/// below three quarters of it plus the read size); a one-off adjustment does not stick. So the policy returns
/// the top-up to grant after each read, whenever the window left is below half the target above `initial`.
/// Pure: no I/O.
public struct ReceiveWindowPolicy: Sendable, Equatable {
    public let initial: Int
    public let maximum: Int
    /// The window the channel should have now.
    public private(set) var target: Int
    private var receivedSinceGrowth = 0
    private var ranDry = false

    /// Window left (bytes) at or below which the server is taken to be waiting for us: two packets.
    public static let dryThreshold = 2 * 32768

    public init(initial: Int, maximum: Int) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        target = initial
    }

    /// After a channel read of `bytes`, with `windowLeft` still granted and `localDrains` telling whether the local
    /// client keeps up: the adjustment to send now (0: none).
    public mutating func afterRead(bytes: Int, windowLeft: Int, localDrains: Bool) -> Int {
        guard localDrains else {
            target = initial
            receivedSinceGrowth = 0
            ranDry = false
            return 0
        }
        receivedSinceGrowth += bytes
        if windowLeft <= Self.dryThreshold { ranDry = true }
        if ranDry, receivedSinceGrowth >= target, target < maximum {
            target = min(maximum, target * 2)
            receivedSinceGrowth = 0
            ranDry = false
        }
        guard target > initial, windowLeft < target / 2 else { return 0 }
        return target - windowLeft
    }
}
