import Foundation
import Posix

/// Opens further SSH sessions for a forwarding loop on a helper thread (connect, host-key check against the key
/// verified at start, authentication with the reusable credential: all blocking), and hands each finished
/// session to the loop's thread through a locked mailbox and its wake-up pipe. At most one open runs at a time.
final class LaneOpener: @unchecked Sendable {
    enum Outcome {
        case opened(SSHSession)
        case failed(Error)
    }

    private let connect: @Sendable () throws -> SSHSession
    private let wakeUp: WakeUpPipe
    private let lock = NSLock()
    private var running = false
    private var finished: Outcome?

    init(wakeUp: WakeUpPipe, connect: @escaping @Sendable () throws -> SSHSession) {
        self.wakeUp = wakeUp
        self.connect = connect
    }

    /// True while a session is being opened.
    var isBusy: Bool { lock.withLock { running || finished != nil } }

    /// Starts opening a session unless one is under way.
    func request() {
        let start = lock.withLock {
            guard !running, finished == nil else { return false }
            running = true
            return true
        }
        guard start else { return }
        let thread = Thread { [self] in
            let outcome: Outcome
            do { outcome = .opened(try connect()) } catch { outcome = .failed(error) }
            lock.withLock {
                running = false
                finished = outcome
            }
            wakeUp.wake()
        }
        thread.name = "ftptunnel session opener"
        thread.start()
    }

    /// Loop thread: the outcome of the last request, once.
    func take() -> Outcome? {
        lock.withLock {
            defer { finished = nil }
            return finished
        }
    }
}
