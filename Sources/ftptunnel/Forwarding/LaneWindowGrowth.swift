import Foundation
import Logging
import TunnelCore

/// `DataWindow auto` on one lane: each data channel starts with the configured window and is granted more as its
/// transfer shows it needs it (`ReceiveWindowPolicy`), measured against the quickest channel open of the session
/// (about one round trip). The grants themselves are sent by the lane, under its pending-send rule.
struct LaneWindowGrowth {
    /// Receive window a data channel opens with: fixed, or where `DataWindow auto` starts.
    let window: Int
    /// The most one data channel is granted (nil: `window` is fixed, nothing grows).
    private let maximum: Int?
    private let logger: Logger
    /// Seconds the quickest data channel open of this session took (about one round trip).
    private var quickestOpen: TimeInterval?

    init(window: Int, maximum: Int?, logger: Logger) {
        self.window = window
        self.maximum = maximum
        self.logger = logger
    }

    /// A channel opened (`since`: when its open started): a data channel gets its window policy.
    mutating func opened(_ forward: Forward, since: Date?, now: Date) {
        guard forward.filter == nil, let maximum, let since else { return }
        // An open takes about one round trip (plus the server's connect, plus any load here): the quickest one so
        // far is what `DataWindow auto` measures windows against.
        let roundTrip = min(quickestOpen ?? .infinity, max(0, now.timeIntervalSince(since)))
        quickestOpen = roundTrip
        forward.receiveWindow = ReceiveWindowPolicy(initial: window, maximum: maximum, roundTrip: roundTrip)
    }

    /// After a read from `forward`'s channel (`windowLeft`: its receive window still open): the bytes to grant
    /// now (0: none). The local client "drains promptly" when less than half of the buffer toward it is still
    /// waiting after the read's bytes were handed on.
    func grant(after forward: Forward, windowLeft: Int) -> Int {
        guard var policy = forward.receiveWindow else { return 0 }
        let drains = forward.toLocal.count < forward.toLocal.capacity / 2
        // A read that emptied the channel: the loop keeps up with the network (while libssh2 holds more than a
        // read takes, the loop, not the window, is the limit).
        let grant = policy.afterRead(windowLeft: windowLeft, channelDrained: forward.lastReadEmptiedChannel,
                                     localDrains: drains, taken: forward.bytesTakenLocally,
                                     now: ProcessInfo.processInfo.systemUptime)
        if policy.target != forward.receiveWindow?.target {
            logger.debug("receive window target \(policy.target >> 10) KiB (round trip \(String(format: "%.1f", policy.roundTrip * 1000)) ms)",
                         metadata: ["conn": "\(forward.id)"])
        }
        forward.receiveWindow = policy
        return grant
    }
}
