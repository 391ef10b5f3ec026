import Foundation
import Posix

/// Seconds on the monotonic clock, for time-outs and transfer rates.
public enum Monotonic {
    public static func now() -> Double {
        PosixClock.monotonicSeconds()
    }

    /// Milliseconds until `deadline` for poll(2), at least 0 and at most `Int32.max`.
    public static func milliseconds(until deadline: Double) -> Int32 {
        let remaining = (deadline - now()) * 1000
        return Int32(max(0, min(remaining.rounded(.up), Double(Int32.max))))
    }
}
