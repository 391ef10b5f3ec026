/// `DataWindow auto`: how much receive window a data channel grants the SSH server, sized by what the transfer
/// shows, in the manner of Linux's receive-buffer autotuning (dynamic right-sizing: measure what the reader took in
/// one round trip) and HPN-SSH; the caller's monotonic clock comes with each read.
///
/// A channel starts at `initial`. libssh2 1.10 keeps the server's window topped up to about `initial` by itself
/// (in `_libssh2_channel_read`, whenever it fell below three quarters of it plus the read size), so the receiver
/// never sees it run dry, and the window left includes whatever is still in flight: the receiver cannot see the
/// sender stall on it. What it can see is how much the transfer moves per round trip. A sender held back by the
/// window delivers one window per round trip; one held back by anything else (the link, the server, the CPU)
/// delivers less. So, once per round trip (`roundTrip`: the quickest channel open of the SSH session, which
/// includes the server's connect, so it errs long), the policy compares what the local client took in that time
/// with the window that data was sent under (the target one round trip earlier: a grant takes effect a round
/// trip after it is sent):
/// - at least half of it, while the channel emptied at least once (libssh2 had nothing more queued: the network,
///   not this process, was the bottleneck): the window may be the limit, so the target doubles, up to `maximum`.
///   A window-limited transfer doubles about once per round trip, like TCP's slow start; one limited elsewhere
///   settles between four and eight times what it moves per round trip (the round trip of lag costs one
///   doubling more), which costs memory only where it is used: a bottleneck behind the link (this process, the
///   client) stops the growth or takes it back.
/// - less: it stays.
///
/// "Took" is what the client consumed, not what was read for it: ftptunnel's buffer toward the client and the
/// socket's unacknowledged send queue are subtracted (`taken`), because a window, once granted, cannot be taken
/// back: the server fills it whether or not the client reads, and libssh2 keeps every packet until it is read.
/// So a slow client, even one whose kernel buffers first make it look prompt, never earns more window than it
/// drains, and on a short round trip (loopback, a LAN) half a 2 MiB window is never moved within one: the window
/// stays at `initial`.
///
/// The policy returns the top-up that brings the window back to the target whenever a quarter of it (at least
/// one read) has been used. A local client that falls behind gets no top-ups, and one that stays behind
/// (`slowReadsBeforeShrinking` reads in a row) brings the target back to `initial`, so a slow or stalled transfer
/// does not hold more than that inside libssh2 for long; a fast client's momentary backpressure does not undo the
/// growth. Pure: no I/O.
public struct ReceiveWindowPolicy: Sendable, Equatable {
    public let initial: Int
    public let maximum: Int
    /// Seconds of one round trip (the channel open's).
    public let roundTrip: Double
    /// The window the channel should have now.
    public private(set) var target: Int
    /// The largest target so far (what the transfer needed at its fastest).
    public private(set) var largestTarget: Int
    /// One round trip's measurement: when it began (the caller's clock), the client's `taken` count then, and the
    /// window the data it measures was sent under: a larger window granted at its start reaches the client only
    /// one round trip later, in the next interval.
    private struct Interval: Sendable, Equatable {
        var start: Double
        var taken: Int
        var window: Int
    }

    /// The measurement in progress.
    private var interval: Interval?
    /// The channel emptied at least once in the current interval.
    private var drainedInInterval = false
    private var slowReads = 0

    /// Reads in a row with the local client behind before the target falls back to `initial`.
    public static let slowReadsBeforeShrinking = 8

    /// Smallest top-up worth a packet.
    public static let minimumGrant = 256 << 10

    public init(initial: Int, maximum: Int, roundTrip: Double) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        self.roundTrip = max(0, roundTrip)
        target = initial
        largestTarget = initial
    }

    /// After a channel read, with `windowLeft` still granted: `channelDrained` when libssh2 holds (almost) nothing
    /// more for the channel, `localDrains` when the local client keeps up with what it is handed, `taken` the bytes
    /// the client has consumed since the channel opened (read from the channel, minus what still waits in
    /// ftptunnel's buffer and the socket's send queue; asked once per round trip at most), `now` the time of the
    /// read (seconds, monotonic). Returns the adjustment to send now (0: none).
    public mutating func afterRead(windowLeft: Int, channelDrained: Bool, localDrains: Bool,
                                   taken: @autoclosure () -> Int, now: Double) -> Int {
        guard localDrains else {
            slowReads += 1
            if slowReads >= Self.slowReadsBeforeShrinking {
                target = initial
                interval = nil
                drainedInInterval = false
            }
            return 0
        }
        slowReads = 0
        if channelDrained { drainedInInterval = true }
        if let interval {
            let elapsed = now - interval.start
            if elapsed >= roundTrip, elapsed > 0 {
                let taken = taken()
                let perRoundTrip = Double(taken - interval.taken) * roundTrip / elapsed
                let window = target
                if drainedInInterval, target < maximum, 2 * perRoundTrip >= Double(interval.window) {
                    target = min(maximum, target * 2)
                    largestTarget = max(largestTarget, target)
                }
                self.interval = Interval(start: now, taken: taken, window: window)
                drainedInInterval = false
            }
        } else {
            interval = Interval(start: now, taken: taken(), window: target)
        }
        guard target > initial, windowLeft <= target - max(target / 4, Self.minimumGrant) else { return 0 }
        return target - windowLeft
    }
}
