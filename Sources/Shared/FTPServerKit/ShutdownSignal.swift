import Foundation
import Posix

/// Two-stage shutdown as file descriptors that poll(2) can watch: `drain` (SIGTERM/SIGINT: stop accepting, end
/// idle sessions) and `abort` (grace period over, or SIGUSR1 from the listener to a session worker: abort
/// transfers, dropping partial uploads). Each pipe is written once and never read, so it stays readable.
public final class ShutdownSignal: @unchecked Sendable {
    /// The listener asks a session worker to abort its transfer with this signal once the grace period is over.
    public static let abortSignal = SIGUSR1
    /// Stack size of the signal-waiting thread.
    static let threadStackSize = 256 * 1024

    public let drainFD: Int32
    public let abortFD: Int32
    private let drainWriteFD: Int32
    private let abortWriteFD: Int32
    private let lock = NSLock()
    private var drained = false
    private var aborted = false

    public init() {
        var drainPipe: [Int32] = [0, 0], abortPipe: [Int32] = [0, 0]
        pipe(&drainPipe)
        pipe(&abortPipe)
        for fd in drainPipe + abortPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        drainFD = drainPipe[0]
        drainWriteFD = drainPipe[1]
        abortFD = abortPipe[0]
        abortWriteFD = abortPipe[1]
    }

    public func drain() {
        lock.lock(); defer { lock.unlock() }
        guard !drained else { return }
        drained = true
        var byte: UInt8 = 1
        _ = write(drainWriteFD, &byte, 1)
    }

    public func abort() {
        lock.lock(); defer { lock.unlock() }
        guard !aborted else { return }
        aborted = true
        var byte: UInt8 = 1
        _ = write(abortWriteFD, &byte, 1)
    }

    /// Blocks SIGTERM, SIGINT and SIGUSR1 in the calling thread (and every thread it starts later) and starts one
    /// thread that waits for them: SIGTERM/SIGINT call `onSignal` and `drain()`, SIGUSR1 calls `abort()`.
    /// Call before any other thread is created.
    public func installSignalHandlers(onSignal: @escaping @Sendable (Int32) -> Void) {
        signal(SIGPIPE, SIG_IGN)
        var set = sigset_t()
        sigemptyset(&set)
        for handled in [SIGTERM, SIGINT, ShutdownSignal.abortSignal] { sigaddset(&set, handled) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let waiter = Thread { [self, set] in
            var waitSet = set
            while true {
                var received: Int32 = 0
                guard sigwait(&waitSet, &received) == 0 else { continue }
                if received == ShutdownSignal.abortSignal {
                    self.abort()
                } else {
                    onSignal(received)
                    self.drain()
                }
            }
        }
        waiter.stackSize = ShutdownSignal.threadStackSize
        waiter.start()
    }
}
