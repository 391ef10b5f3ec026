import FTPServerKit
import Foundation
import Logging
import Posix

/// The per-connection worker processes of the listener: each accepted control connection becomes
/// `pasvd … --inetd --session-id N`, started with posix_spawn and the socket as its stdin/stdout, so one
/// session's crash or compromise touches no other, and each can switch to its own account after login.
final class SessionWorkers {
    /// The running binary, re-executed for every session.
    let executable: String
    /// The listener's own arguments (options included), to which the worker's are appended.
    let baseArguments: [String]
    /// Workers run without the Swift runtime's crash backtracer: a crashing session dies by its signal at once
    /// (the listener logs it) instead of starting a helper process with the session's privileges.
    static let environmentOverride = "SWIFT_BACKTRACE=enable=no"

    private let logger: Logger
    private var running: [pid_t: Int] = [:]

    init(arguments: [String], logger: Logger) {
        executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? arguments[0]
        baseArguments = arguments
        self.logger = logger
    }

    var count: Int { running.count }

    /// Starts the worker for session `id` on the connected socket `client` (the caller closes its copy).
    func start(id: Int, client: Int32) throws(PosixError) {
        let arguments = [executable] + baseArguments.dropFirst() + ["--inetd", "--session-id", "\(id)"]
        let environment = PosixProcess.currentEnvironment.filter { !$0.hasPrefix("SWIFT_BACKTRACE=") }
            + [SessionWorkers.environmentOverride]
        let pid = try PosixProcess.spawn(executable, arguments: arguments, environment: environment,
                                         stdinFD: client, stdoutFD: client,
                                         defaultSignals: [SIGTERM, SIGINT, ShutdownSignal.abortSignal, SIGCHLD])
        running[pid] = id
    }

    /// Collects every worker that has exited; a worker killed by a signal is logged (its session alone ended).
    func reap() {
        while let (pid, status) = PosixProcess.reapAny() {
            guard let id = running.removeValue(forKey: pid) else { continue }
            let signal = status & 0x7F, code = (status >> 8) & 0xFF
            if signal != 0 {
                logger.warning("session worker ended by signal \(signal)", metadata: ["session": "\(id)", "pid": "\(pid)"])
            } else if code != 0 {
                logger.warning("session worker exited with status \(code)", metadata: ["session": "\(id)", "pid": "\(pid)"])
            }
        }
    }

    func signalAll(_ signal: Int32) { for pid in running.keys { PosixProcess.signal(pid, signal) } }

    /// Waits (reaping) until every worker has exited or `deadline` (monotonic seconds) passed.
    func waitForAll(until deadline: Double) {
        reap()
        while !running.isEmpty, Monotonic.now() < deadline {
            usleep(20_000)
            reap()
        }
    }
}
