import Foundation
import Logging

/// A `Tunnel` running on its own thread while this thread does something else with it (`run`'s command,
/// `check`'s probes): `start` returns once it is ready (or throws what the tunnel threw), `stop` ends it and
/// waits for the thread to finish.
final class BackgroundTunnel: @unchecked Sendable {
    private enum State {
        case starting
        case ready(TunnelReady)
        case failed(Error)
        case finished
    }

    /// How long `stop` waits for the tunnel thread by default.
    static let stopTimeout = 10.0

    private let tunnel: Tunnel
    /// How log lines name this tunnel, e.g. "the check's rewrite-mode tunnel".
    private let name: String
    private let logger: Logger
    private let condition = NSCondition()
    private var state = State.starting
    private var threadDone = false
    private var lateFailure: Error?

    private init(tunnel: Tunnel, name: String, logger: Logger) {
        self.tunnel = tunnel
        self.name = name
        self.logger = logger
    }

    /// Runs `tunnel` and waits until it is ready; throws `TunnelError.stoppedBeforeReady` if it returned without
    /// becoming ready. The wait has no deadline of its own: SSH set-up may ask the user (host key, passphrase)
    /// and is bounded by ConnectTimeout.
    static func start(_ tunnel: Tunnel, name: String, logger: Logger) throws -> (BackgroundTunnel, TunnelReady) {
        let background = BackgroundTunnel(tunnel: tunnel, name: name, logger: logger)
        let thread = Thread { background.runTunnel() }
        thread.name = "ftptunnel-\(tunnel.settings.mode.rawValue)"
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

    /// What the tunnel threw after it had been ready (the SSH session was lost, say), once it has returned.
    var failureAfterReady: Error? {
        condition.lock(); defer { condition.unlock() }
        return lateFailure
    }

    /// Asks the tunnel to stop and waits for its thread: at most `timeout` seconds, or until it returns when nil.
    func stop(waitingAtMost timeout: Double? = BackgroundTunnel.stopTimeout) {
        tunnel.stop()
        condition.lock()
        if let timeout {
            let deadline = Date(timeIntervalSinceNow: timeout)
            while !threadDone && condition.wait(until: deadline) {}
        } else {
            while !threadDone { condition.wait() }
        }
        let done = threadDone
        condition.unlock()
        if !done, let timeout { logger.warning("\(name) did not stop within \(timeout) s") }
    }

    private func waitUntilReady() throws -> TunnelReady {
        condition.lock(); defer { condition.unlock() }
        while true {
            switch state {
            case .starting: condition.wait()
            case .ready(let ready): return ready
            case .failed(let error): throw error
            case .finished: throw TunnelError.stoppedBeforeReady
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
            if case .ready = state {
                logger.info("\(name) ended: \(failure)")
                lateFailure = failure
            }
            state = .failed(failure)
        } else if case .starting = state {
            state = .finished
        }
        threadDone = true
        condition.broadcast()
        condition.unlock()
    }
}
