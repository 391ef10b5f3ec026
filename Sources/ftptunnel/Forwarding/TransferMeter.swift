import Foundation

/// The bytes of one data connection: counted by whichever loop thread carries it (with `Sessions N` another
/// session's), read by its control connection's thread and by `status`.
final class TransferMeter: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes = 0
    private var ended = false
    private var endedAt: Date?
    private var whenEnded: (@Sendable () -> Void)?

    func add(_ count: Int) {
        guard count > 0 else { return }
        lock.withLock { bytes += count }
    }

    /// The data connection is closed: runs the completion registered with `onEnd`, once.
    func end() {
        let body: (@Sendable () -> Void)? = lock.withLock {
            guard !ended else { return nil }
            ended = true
            endedAt = Date()
            defer { whenEnded = nil }
            return whenEnded
        }
        body?()
    }

    /// Runs `body` when the data connection ends, at once if it has.
    func onEnd(_ body: @escaping @Sendable () -> Void) {
        let now: Bool = lock.withLock {
            if ended { return true }
            whenEnded = body
            return false
        }
        if now { body() }
    }

    var snapshot: (bytes: Int, ended: Date?) { lock.withLock { (bytes, endedAt) } }
}
