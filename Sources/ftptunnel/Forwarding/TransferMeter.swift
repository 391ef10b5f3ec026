import Foundation

/// The bytes of one data connection: counted by whichever loop thread carries it (with `Sessions N` another
/// session's), read by its control connection's thread and by `status`. It also carries how the data connection
/// ended, which decides whether the server's 226 may reach the client (`TransferCompletionGate`).
final class TransferMeter: @unchecked Sendable {
    /// How the data connection's bytes fared.
    enum Outcome: Equatable, Sendable {
        /// Everything arrived: a download's channel ended (EOF) and every byte was handed to the client's socket
        /// before it was shut cleanly; an upload's bytes and EOF were sent and the server's side ended after them.
        case whole
        /// The connection ended any other way (session lost, channel failed, local error, never used).
        case broken
    }

    private let lock = NSLock()
    private var bytes = 0
    private var ended = false
    private var endedAt: Date?
    private var outcome: Outcome?
    private var whenEnded: (@Sendable () -> Void)?
    /// Told once when the outcome is known (at most a few: the control connection's wake-up).
    private var whenSettled: [@Sendable () -> Void] = []

    func add(_ count: Int) {
        guard count > 0 else { return }
        lock.withLock { bytes += count }
    }

    /// The data arrived whole (the first outcome stays).
    func deliveredWhole() { settle(.whole) }

    /// The data connection is closed: runs the completion registered with `onEnd`, once. Without an outcome
    /// before, the data did not arrive whole.
    func end() {
        settle(.broken)
        let body: (@Sendable () -> Void)? = lock.withLock {
            guard !ended else { return nil }
            ended = true
            endedAt = Date()
            defer { whenEnded = nil }
            return whenEnded
        }
        body?()
    }

    private func settle(_ value: Outcome) {
        let waiters: [@Sendable () -> Void] = lock.withLock {
            guard outcome == nil else { return [] }
            outcome = value
            defer { whenSettled.removeAll() }
            return whenSettled
        }
        for waiter in waiters { waiter() }
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

    /// Runs `body` (on whichever thread settles it) once the outcome is known, at once if it is.
    func onSettled(_ body: @escaping @Sendable () -> Void) {
        let now: Bool = lock.withLock {
            if outcome != nil { return true }
            whenSettled.append(body)
            return false
        }
        if now { body() }
    }

    /// nil while the data connection is still under way.
    var settled: Outcome? { lock.withLock { outcome } }

    /// The client was told 226 by the tunnel itself (the server's reply was lost with its session; see
    /// `TransferCompletionGate`), for the transfer line.
    private var vouched = false
    func markVouched() { lock.withLock { vouched = true } }
    var isVouched: Bool { lock.withLock { vouched } }

    var snapshot: (bytes: Int, ended: Date?) { lock.withLock { (bytes, endedAt) } }
}
