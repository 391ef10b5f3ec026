import Foundation
import Logging
import Posix

/// The SSH sessions of one tunnel when `Sessions N` > 1 (issue 5): data channels spread over N sessions,
/// each driven by its own thread and poll loop (DESIGN 3.3: one thread owns a session and all its channels).
///
/// Session 1 runs on the tunnel's thread and keeps the listeners. Sessions 2…N each get a `PoolSessionThread` that
/// connects, requires the host key session 1 verified, and authenticates with session 1's credential without
/// prompting. Connections accepted by any loop — control connections too — go through `dispatcher` to the session
/// with the fewest active connections; a control connection's data listeners then live on its session's loop.
///
/// When any session ends with an error, every session stops and the tunnel reports that error; `stop()` ends
/// them all cleanly. `finish` joins every thread.
final class SessionPool: @unchecked Sendable {
    let dispatcher = ConnectionDispatcher()
    /// Session 1's member (the tunnel's own loop).
    let first: PoolMember
    private let extras: [PoolSessionThread]
    private let lock = NSLock()
    private var ending = false
    private var failure: Error?
    private let logger: Logger

    /// Connects sessions 2…`count` in parallel and returns once each is authenticated or has failed.
    /// A different host key fails the whole pool (thrown, every session disconnected); any other set-up
    /// failure leaves the pool one session smaller (logged).
    init(count: Int, connector: SSHConnector, hostKey: PoolHostKey, credential: SSHCredential,
         firstWakeUp: WakeUpPipe, configuration: ForwardingLoop.Configuration, userTimeout: Int?,
         shouldStop: @escaping @Sendable () -> Bool) throws {
        logger = connector.logger
        first = PoolMember(number: 1, wakeUp: firstWakeUp)
        dispatcher.add(first)
        var started: [PoolSessionThread] = []
        for number in 2...max(2, count) {
            started.append(PoolSessionThread(number: number, member: PoolMember(number: number, wakeUp: try WakeUpPipe())))
        }
        extras = started

        for thread in extras {
            let number = thread.number
            let sessionLogger = { var logger = connector.logger; logger[metadataKey: "session"] = "\(number)"; return logger }()
            thread.start(
                connect: {
                    let session = try connector.connectAnother(hostKey: hostKey, credential: credential, number: number)
                    if let userTimeout { TCPOptions.setUserTimeout(session.socket, seconds: userTimeout) }
                    return session
                },
                run: { [self, member = thread.member] session in
                    let loop = ForwardingLoop(session: session, listeners: [], configuration: configuration,
                                              wakeUp: member.wakeUp, logger: sessionLogger,
                                              shouldStop: { [self] in shouldStop() || isEnding })
                    loop.pool = PoolLink(member: member, dispatcher: dispatcher)
                    try loop.run()
                },
                onEnd: { [self] error in
                    end(error.map { Self.naming(session: number, of: count, $0) })
                })
        }

        var refused: Error?
        for thread in extras {
            guard let error = thread.waitForSetUp() else { continue }
            if case SessionPoolError.hostKeyDiffers = error { refused = refused ?? error }
            logger.warning("SSH session \(thread.number) of \(count) could not be set up: \(error)")
        }
        if let refused {
            extras.forEach { $0.release(run: false) }
            extras.forEach { $0.join() }
            throw refused
        }
        for thread in extras where thread.member.isOpen { dispatcher.add(thread.member) }
        logger.info("session pool ready", metadata: ["sessions": "\(dispatcher.sessionCount) of \(count)"])
    }

    /// Lets every connected session forward (call once the tunnel is ready).
    func start() {
        extras.forEach { $0.release(run: true) }
    }

    /// True once a session ended (or `end` was called): every loop stops.
    var isEnding: Bool { lock.withLock { ending } }

    /// Records the first error (nil: a clean stop) and wakes every loop so it notices `isEnding`.
    func end(_ error: Error?) {
        lock.withLock {
            if failure == nil, let error { failure = error }
            ending = true
        }
        wakeAll()
    }

    func wakeAll() {
        first.wakeUp.wake()
        extras.forEach { $0.member.wakeUp.wake() }
    }

    /// Ends every session, joins every thread, and returns the first error any session reported.
    func finish(_ error: Error?) -> Error? {
        end(error)
        extras.forEach { $0.release(run: false) }
        extras.forEach { $0.join() }
        return lock.withLock { failure }
    }

    /// A lost session names itself, so the log says which TCP connection died.
    private static func naming(session number: Int, of count: Int, _ error: Error) -> Error {
        if case SSHError.sessionLost(let reason) = error {
            return SSHError.sessionLost(reason: "session \(number) of \(count): \(reason)")
        }
        return error
    }
}
