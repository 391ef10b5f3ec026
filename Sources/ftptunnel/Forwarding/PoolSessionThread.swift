import Foundation

/// One further session of a pool on its own thread, which owns the session from its first byte to its
/// disconnect (libssh2 is not thread-safe per session): connect and authenticate, wait for the go-ahead,
/// then run the session's forwarding loop until the pool ends.
final class PoolSessionThread: @unchecked Sendable {
    enum SetUp {
        case connecting
        case connected
        case failed(Error)
    }

    let number: Int
    let member: PoolMember
    private let condition = NSCondition()
    private var setUp = SetUp.connecting
    /// nil: waiting; true: run the loop; false: disconnect without forwarding.
    private var goAhead: Bool?
    private var finished = false

    init(number: Int, member: PoolMember) {
        self.number = number
        self.member = member
    }

    /// Starts the thread. `connect` runs first; after `release(run: true)`, `run` drives the session until it
    /// returns or throws; `onEnd` then receives the outcome (not called when set-up failed or was aborted).
    func start(connect: @escaping @Sendable () throws -> SSHSession,
               run: @escaping @Sendable (SSHSession) throws -> Void,
               onEnd: @escaping @Sendable (Error?) -> Void) {
        let thread = Thread { [self] in
            defer { markFinished() }
            let session: SSHSession
            do {
                session = try connect()
            } catch {
                member.close()
                report(.failed(error))
                return
            }
            report(.connected)
            guard waitForGoAhead() else {
                member.close()
                session.disconnect(reason: "ftptunnel stopped")
                return
            }
            do {
                try run(session)
                session.disconnect(reason: "ftptunnel stopped")
                onEnd(nil)
            } catch {
                onEnd(error)
            }
        }
        thread.name = "ftptunnel session \(number)"
        thread.start()
    }

    /// Blocks until the session is authenticated (nil) or its set-up failed (the error).
    func waitForSetUp() -> Error? {
        condition.lock(); defer { condition.unlock() }
        while true {
            switch setUp {
            case .connecting: condition.wait()
            case .connected: return nil
            case .failed(let error): return error
            }
        }
    }

    /// Lets a connected session start forwarding (`run: true`) or disconnect (`false`).
    func release(run: Bool) {
        condition.lock()
        goAhead = run
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks until the thread has ended.
    func join() {
        condition.lock(); defer { condition.unlock() }
        while !finished { condition.wait() }
    }

    private func report(_ state: SetUp) {
        condition.lock()
        setUp = state
        condition.broadcast()
        condition.unlock()
    }

    private func waitForGoAhead() -> Bool {
        condition.lock(); defer { condition.unlock() }
        while goAhead == nil { condition.wait() }
        return goAhead ?? false
    }

    private func markFinished() {
        condition.lock()
        finished = true
        condition.broadcast()
        condition.unlock()
    }
}
