import Foundation

/// Two-stage shutdown shared by every thread, as file descriptors that poll(2) can watch:
/// `drain` (SIGTERM/SIGINT: stop accepting, end idle sessions) and `abort` (grace period over:
/// abort transfers, removing partial uploads). Each pipe is written once and never read, so it stays readable.
final class ShutdownSignal: @unchecked Sendable {
    let drainFD: Int32
    let abortFD: Int32
    private let drainWriteFD: Int32
    private let abortWriteFD: Int32
    private let lock = NSLock()
    private var drained = false
    private var aborted = false

    init() {
        var drainPipe: [Int32] = [0, 0], abortPipe: [Int32] = [0, 0]
        pipe(&drainPipe)
        pipe(&abortPipe)
        for fd in drainPipe + abortPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        drainFD = drainPipe[0]
        drainWriteFD = drainPipe[1]
        abortFD = abortPipe[0]
        abortWriteFD = abortPipe[1]
    }

    func drain() {
        lock.lock(); defer { lock.unlock() }
        guard !drained else { return }
        drained = true
        var byte: UInt8 = 1
        _ = write(drainWriteFD, &byte, 1)
    }

    func abort() {
        lock.lock(); defer { lock.unlock() }
        guard !aborted else { return }
        aborted = true
        var byte: UInt8 = 1
        _ = write(abortWriteFD, &byte, 1)
    }

    /// Blocks SIGTERM and SIGINT in the calling thread (and every thread it starts later) and starts one
    /// thread that waits for them and calls `drain()`. Call before any other thread is created.
    func installSignalHandlers(onSignal: @escaping @Sendable (Int32) -> Void) {
        signal(SIGPIPE, SIG_IGN)
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let waiter = Thread { [self] in
            var received: Int32 = 0
            var waitSet = sigset_t()
            sigemptyset(&waitSet)
            sigaddset(&waitSet, SIGTERM)
            sigaddset(&waitSet, SIGINT)
            while sigwait(&waitSet, &received) != 0 {}
            onSignal(received)
            self.drain()
        }
        waiter.stackSize = FTPServer.threadStackSize
        waiter.start()
    }
}
