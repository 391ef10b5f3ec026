#if canImport(Glibc)
import Glibc
#endif

/// Signal dispositions and masks through the `Posix` choke point.
public enum PosixSignals {
    /// signal(2) SIG_IGN: the process no longer reacts to `number` (SIGPIPE: a closed peer is an EPIPE error).
    public static func ignore(_ number: Int32) { _ = signal(number, SIG_IGN) }

    /// Blocks `numbers` in the calling thread and every thread it starts later, so that only `wait(for:)` sees them.
    public static func block(_ numbers: [Int32]) {
        var set = makeSet(numbers)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// sigwait(3) for one of `numbers` (blocked with `block(_:)`): the signal that arrived.
    public static func wait(for numbers: [Int32]) -> Int32 {
        var set = makeSet(numbers)
        while true {
            var received: Int32 = 0
            if sigwait(&set, &received) == 0 { return received }
        }
    }

    private static func makeSet(_ numbers: [Int32]) -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for number in numbers { sigaddset(&set, number) }
        return set
    }
}
