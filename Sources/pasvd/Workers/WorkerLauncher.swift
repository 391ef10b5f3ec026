import FTPServerKit
import Foundation
import Posix

/// Starts pasvd's worker processes: the running binary again, with the listener's own arguments plus the role's,
/// through posix_spawn (never a bare fork: the listener runs Foundation).
struct WorkerLauncher {
    /// Workers run without the Swift runtime's crash backtracer: a crashing worker dies by its signal at once (the
    /// listener logs it) instead of starting a helper process with the worker's privileges.
    static let environmentOverride = "SWIFT_BACKTRACE=enable=no"
    /// Signals a worker starts with at their default disposition.
    static let defaultSignals = [SIGTERM, SIGINT, ShutdownSignal.abortSignal, SIGCHLD]

    /// The running binary, re-executed for every worker.
    let executable: String
    /// The listener's own arguments (options included), to which each worker's are appended.
    let baseArguments: [String]

    init(arguments: [String]) {
        executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? arguments[0]
        baseArguments = Array(arguments.dropFirst())
    }

    /// Starts `pasvd … roleArguments` with `stdio` as its descriptors 0 and 1 and `channel` as descriptor 3.
    func start(_ roleArguments: [String], stdio: Int32, channel: Int32? = nil) throws(PosixError) -> pid_t {
        let environment = PosixProcess.currentEnvironment.filter { !$0.hasPrefix("SWIFT_BACKTRACE=") }
            + [WorkerLauncher.environmentOverride]
        return try PosixProcess.spawn(executable, arguments: [executable] + baseArguments + roleArguments,
                                      environment: environment, stdinFD: stdio, stdoutFD: stdio,
                                      extraFDs: channel.map { [$0] } ?? [], defaultSignals: WorkerLauncher.defaultSignals)
    }
}

extension PosixProcess {
    /// "signal N" or "status N" of a wait status, nil for a clean exit.
    static func failure(of status: Int32) -> String? {
        let signal = status & 0x7F, code = (status >> 8) & 0xFF
        if signal != 0 { return "signal \(signal)" }
        return code != 0 ? "status \(code)" : nil
    }
}
