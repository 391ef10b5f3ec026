/// `DataWindow auto`: how much receive window a data channel grants the SSH server, sized by what the transfer
/// shows, in the manner of TCP receive autotuning and HPN-SSH, without a clock.
///
/// A channel starts at `initial`. libssh2 1.10 keeps the server's window topped up to about `initial` by itself
/// (in `_libssh2_channel_read`, whenever it fell below three quarters of it plus the read size), so the receiver
/// never sees it run dry; what it does see is the network being the bottleneck: a read that empties everything
/// libssh2 holds for the channel (`channelDrained`) while the local client keeps up. Then, once a whole target's
/// worth of data has arrived since the last growth (about one round trip while window-limited), the target
/// doubles, up to `maximum`; the policy returns the top-up that brings the window back to the target whenever a
/// quarter of it (at least one read) has been consumed. A local client that falls behind gets no top-ups, and
/// one that stays behind (`slowReadsBeforeShrinking` reads in a row) brings the target back to `initial`, so a
/// slow or stalled transfer does not hold more than that inside libssh2 for long; a fast client's momentary
/// backpressure does not undo the growth.
/// Pure: no I/O.
public struct ReceiveWindowPolicy: Sendable, Equatable {
    public let initial: Int
    public let maximum: Int
    /// The window the channel should have now.
    public private(set) var target: Int
    private var receivedSinceGrowth = 0
    private var sawNetworkBound = false
    private var slowReads = 0

    /// Reads in a row with the local client behind before the target falls back to `initial`.
    public static let slowReadsBeforeShrinking = 8

    /// Smallest top-up worth a packet.
    public static let minimumGrant = 256 << 10

    public init(initial: Int, maximum: Int) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        target = initial
    }

    /// After a channel read of `bytes`, with `windowLeft` still granted: `channelDrained` when libssh2 holds
    /// nothing more for the channel, `localDrains` when the local client keeps up. Returns the adjustment to send
    /// now (0: none).
    public mutating func afterRead(bytes: Int, windowLeft: Int, channelDrained: Bool, localDrains: Bool) -> Int {
        guard localDrains else {
            slowReads += 1
            if slowReads >= Self.slowReadsBeforeShrinking {
                target = initial
                receivedSinceGrowth = 0
                sawNetworkBound = false
            }
            return 0
        }
        slowReads = 0
        receivedSinceGrowth += bytes
        if channelDrained { sawNetworkBound = true }
        if sawNetworkBound, receivedSinceGrowth >= target, target < maximum {
            target = min(maximum, target * 2)
            receivedSinceGrowth = 0
            sawNetworkBound = false
        }
        guard target > initial, windowLeft <= target - max(target / 4, Self.minimumGrant) else { return 0 }
        return target - windowLeft
    }
}
