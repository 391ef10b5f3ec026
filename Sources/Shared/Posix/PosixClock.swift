#if canImport(Glibc)
import Glibc
#endif

/// Clocks and pauses through the `Posix` choke point.
public enum PosixClock {
    /// Seconds on CLOCK_MONOTONIC (never jumps with the wall clock).
    public static func monotonicSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// Suspends the calling thread for `seconds` (a deliberate delay, such as a login failure's; never a way to
    /// wait for something to happen). A signal that interrupts it ends the pause early.
    public static func pause(seconds: Double) {
        guard seconds > 0 else { return }
        var spec = timespec(tv_sec: Int(seconds), tv_nsec: Int(seconds.truncatingRemainder(dividingBy: 1) * 1e9))
        _ = nanosleep(&spec, nil)
    }
}
