import Foundation
import Posix

/// Two-stage shutdown as file descriptors that poll(2) can watch: `drain` (SIGTERM/SIGINT: stop accepting, end
/// idle sessions) and `abort` (grace period over, or SIGUSR1 from the listener to a session worker: abort
/// transfers, dropping partial uploads). Each pipe is woken once and never drained, so it stays readable.
public final class ShutdownSignal: @unchecked Sendable {
    /// The listener asks a session worker to abort its transfer with this signal once the grace period is over.
    public static let abortSignal = SIGUSR1
    /// Stack size of the signal-waiting thread.
    static let threadStackSize = 256 * 1024

    private let drainPipe: WakeUpPipe
    private let abortPipe: WakeUpPipe
    private let lock = NSLock()
    private var drained = false
    private var aborted = false

    /// Readable once `drain()` was called.
    public var drainFD: Int32 { drainPipe.readFD }
    /// Readable once `abort()` was called.
    public var abortFD: Int32 { abortPipe.readFD }

    /// Fails only when the process is out of descriptors.
    public init() throws(PosixError) {
        drainPipe = try WakeUpPipe()
        abortPipe = try WakeUpPipe()
    }

    public func drain() {
        lock.lock(); defer { lock.unlock() }
        guard !drained else { return }
        drained = true
        drainPipe.wake()
    }

    public func abort() {
        lock.lock(); defer { lock.unlock() }
        guard !aborted else { return }
        aborted = true
        abortPipe.wake()
    }

    /// Blocks SIGTERM, SIGINT and SIGUSR1 in the calling thread (and every thread it starts later) and starts one
    /// thread that waits for them: SIGTERM/SIGINT call `onSignal` and `drain()`, SIGUSR1 calls `abort()`.
    /// Call before any other thread is created.
    public func installSignalHandlers(onSignal: @escaping @Sendable (Int32) -> Void) {
        PosixSignals.ignore(SIGPIPE)
        let handled = [SIGTERM, SIGINT, ShutdownSignal.abortSignal]
        PosixSignals.block(handled)
        let waiter = Thread { [self] in
            while true {
                let received = PosixSignals.wait(for: handled)
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
