import Foundation
import Logging
import Shared

/// A `Tunnel` running on its own thread for the duration of one probe: `start` returns once it is ready (or
/// throws what the tunnel threw), `stop` ends it and waits for the thread to finish.
final class BackgroundTunnel: @unchecked Sendable {
    private enum State {
        case starting
        case ready(TunnelReady)
        case failed(Error)
        case finished
    }

    /// How long `stop` waits for the tunnel thread to return.
    static let stopTimeout = 10.0

    private let tunnel: Tunnel
    private let logger: Logger
    private let condition = NSCondition()
    private var state = State.starting
    private var threadDone = false

    private init(tunnel: Tunnel, logger: Logger) {
        self.tunnel = tunnel
        self.logger = logger
    }

    /// Runs `tunnel` and waits until it is ready. The wait has no deadline of its own: SSH set-up may ask the user
    /// (host key, passphrase) and is bounded by ConnectTimeout.
    static func start(_ tunnel: Tunnel, logger: Logger) throws -> (BackgroundTunnel, TunnelReady) {
        let background = BackgroundTunnel(tunnel: tunnel, logger: logger)
        let thread = Thread { background.runTunnel() }
        thread.name = "ftptunnel-check-\(tunnel.settings.mode.rawValue)"
        thread.start()
        let ready = try background.waitUntilReady()
        return (background, ready)
    }

    /// True while the tunnel has neither failed nor returned.
    var isForwarding: Bool {
        condition.lock(); defer { condition.unlock() }
        if case .ready = state { return true }
        return false
    }

    /// Asks the tunnel to stop and waits (bounded) for its thread.
    func stop() {
        tunnel.stop()
        let deadline = Date(timeIntervalSinceNow: Self.stopTimeout)
        condition.lock()
        while !threadDone && condition.wait(until: deadline) {}
        let done = threadDone
        condition.unlock()
        if !done { logger.warning("the check's \(tunnel.settings.mode.rawValue)-mode tunnel did not stop within \(Self.stopTimeout) s") }
    }

    private func waitUntilReady() throws -> TunnelReady {
        condition.lock(); defer { condition.unlock() }
        while true {
            switch state {
            case .starting: condition.wait()
            case .ready(let ready): return ready
            case .failed(let error): throw error
            case .finished: throw TunnelError.internalFailure("the tunnel stopped before it was ready")
            }
        }
    }

    private func runTunnel() {
        var failure: Error?
        do {
            try tunnel.run { [self] ready in
                condition.lock()
                state = .ready(ready)
                condition.broadcast()
                condition.unlock()
            }
        } catch {
            failure = error
        }
        condition.lock()
        if let failure {
            if case .ready = state { logger.info("the check's tunnel ended: \(failure)") }
            state = .failed(failure)
        } else if case .starting = state {
            state = .finished
        }
        threadDone = true
        condition.broadcast()
        condition.unlock()
    }
}
