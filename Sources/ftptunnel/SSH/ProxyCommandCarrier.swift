import Foundation
import Logging
import Posix

/// Carries an SSH session over a ProxyCommand (OpenSSH's `ProxyCommand`): `sh -c COMMAND` with one end of a socket
/// pair as its stdin and stdout, its stderr passing through to ours. When the session is done (its end closed), the
/// child gets a moment to exit on the end of its input, then SIGHUP (as ssh does), then SIGKILL; its exit status is
/// logged, and offered to the error of a session that could not start.
final class ProxyCommandCarrier: SessionCarrier, @unchecked Sendable {
    let command: String
    let pid: pid_t
    private let logger: Logger
    private let lock = NSLock()
    /// Set once the child has been reaped.
    private var status: Int32?
    /// How long a child may take to exit after its input ended, before SIGHUP (and as long again before SIGKILL).
    static let exitGraceMilliseconds: Int32 = 2000

    /// Starts the command; returns the carrier and our end of the pair for the session.
    static func start(_ command: String, logger: Logger) throws -> (ProxyCommandCarrier, Int32) {
        let (ours, theirs) = try PosixProcess.streamPair()
        defer { PosixDescriptor.close(theirs) }
        do {
            let pid = try PosixProcess.spawn("/bin/sh", arguments: ["sh", "-c", "exec " + command],
                                             stdinFD: theirs, stdoutFD: theirs,
                                             defaultSignals: [SIGPIPE, SIGINT, SIGTERM, SIGHUP])
            logger.info("ProxyCommand started", metadata: ["command": "\(command)", "pid": "\(pid)"])
            return (ProxyCommandCarrier(command: command, pid: pid, logger: logger), ours)
        } catch {
            PosixDescriptor.close(ours)
            throw SSHError.proxyCommandFailed(command: command, reason: "cannot start /bin/sh: \(error)")
        }
    }

    private init(command: String, pid: pid_t, logger: Logger) {
        self.command = command
        self.pid = pid
        self.logger = logger
    }

    /// The child's exit status if it exits within `milliseconds` (it is then reaped).
    func exitStatus(within milliseconds: Int32) -> Int32? {
        lock.withLock {
            if status == nil { status = PosixProcess.waitExit(pid, milliseconds: milliseconds) }
            return status
        }
    }

    /// Reaps the child on a thread of its own (after the session closed its end).
    func finish() {
        if let status = lock.withLock({ self.status }) {
            logger.log(level: status == 0 ? .info : .notice, "ProxyCommand exited with status \(status)",
                       metadata: ["command": "\(command)"])
            return
        }
        let (pid, command, logger) = (self.pid, self.command, self.logger)
        let thread = Thread {
            var status = PosixProcess.waitExit(pid, milliseconds: Self.exitGraceMilliseconds)
            if status == nil {
                PosixProcess.signal(pid, SIGHUP)
                status = PosixProcess.waitExit(pid, milliseconds: Self.exitGraceMilliseconds)
            }
            if status == nil {
                PosixProcess.signal(pid, SIGKILL)
                status = PosixProcess.waitExit(pid, milliseconds: Self.exitGraceMilliseconds)
            }
            // Our own SIGHUP after the session ended is no news; any other failure is.
            let level: Logger.Level = status == 0 || status == 128 + SIGHUP ? .info : .notice
            logger.log(level: level, "ProxyCommand exited with status \(status.map(String.init) ?? "unknown")",
                       metadata: ["command": "\(command)"])
        }
        thread.name = "ftptunnel ProxyCommand \(pid)"
        thread.start()
    }
}
