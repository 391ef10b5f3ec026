/// `DataWindow auto`: how much receive window a data channel grants the SSH server, sized by what the transfer
/// shows, in the manner of TCP receive autotuning and HPN-SSH; the caller's monotonic clock comes with each read.
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
///
/// A window limits a transfer only when a whole window's worth arrives within about one round trip (`roundTrip`:
/// the quickest channel open of the SSH session, which includes the server's connect, so it errs long): the target doubles only when the last target's worth took at most two round
/// trips. On a short round trip (loopback, a LAN) the window is never the limit and stays at `initial`, however
/// promptly the channel drains; on a long one a CPU-bound transfer stops growing once a window lasts longer.
///
/// Growth also needs the client to have taken what it was handed: a window, once granted, cannot be taken back, and
/// the server fills it whether or not the client reads, with libssh2 keeping every packet until it is read. The
/// kernel's socket buffers make a slow client look prompt for its first few MiB (`localDrains` holds while they
/// fill), so the target doubles only while the bytes handed to the client and not yet taken (`localBacklog`:
/// ftptunnel's buffer plus the socket's unacknowledged send queue) stay under half of it.
/// Pure: no I/O.
public struct ReceiveWindowPolicy: Sendable, Equatable {
    public let initial: Int
    public let maximum: Int
    /// Seconds of one round trip (the channel open's).
    public let roundTrip: Double
    /// The window the channel should have now.
    public private(set) var target: Int
    private var receivedSinceGrowth = 0
    private var sawNetworkBound = false
    private var slowReads = 0
    /// When the bytes counted in `receivedSinceGrowth` began to arrive (seconds on the caller's monotonic clock).
    private var periodStart: Double?

    /// Reads in a row with the local client behind before the target falls back to `initial`.
    public static let slowReadsBeforeShrinking = 8

    /// Smallest top-up worth a packet.
    public static let minimumGrant = 256 << 10

    public init(initial: Int, maximum: Int, roundTrip: Double) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        self.roundTrip = max(0, roundTrip)
        target = initial
    }

    /// After a channel read of `bytes`, with `windowLeft` still granted: `channelDrained` when libssh2 holds
    /// nothing more for the channel, `localDrains` when the local client keeps up, `localBacklog` the bytes handed
    /// to the client that it has not taken yet, `now` the time of the read (seconds, monotonic). Returns the
    /// adjustment to send now (0: none).
    public mutating func afterRead(bytes: Int, windowLeft: Int, channelDrained: Bool, localDrains: Bool,
                                   localBacklog: Int = 0, now: Double) -> Int {
        guard localDrains else {
            slowReads += 1
            if slowReads >= Self.slowReadsBeforeShrinking {
                target = initial
                receivedSinceGrowth = 0
                sawNetworkBound = false
                periodStart = nil
            }
            return 0
        }
        slowReads = 0
        let start = periodStart ?? now
        periodStart = start
        receivedSinceGrowth += bytes
        if channelDrained { sawNetworkBound = true }
        if sawNetworkBound, receivedSinceGrowth >= target, target < maximum {
            if localBacklog < target / 2, now - start <= 2 * roundTrip {
                target = min(maximum, target * 2)
            }
            // A window's worth arrived: the next period starts, grown or not.
            receivedSinceGrowth = 0
            sawNetworkBound = false
            periodStart = now
        }
        guard target > initial, windowLeft <= target - max(target / 4, Self.minimumGrant) else { return 0 }
        return target - windowLeft
    }
}
