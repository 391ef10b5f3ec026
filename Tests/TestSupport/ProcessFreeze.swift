import Foundation

/// Freezes processes with SIGSTOP (their TCP connections stay up: the kernel keeps ACKing) until `thaw()` or
/// deinit sends SIGCONT. For a hung SSH server: the per-connection sshd processes, found through /proc.
public final class ProcessFreeze: @unchecked Sendable {
    public let pids: [pid_t]
    private var frozen = true

    public init(_ pids: [pid_t]) {
        self.pids = pids
        pids.forEach { kill($0, SIGSTOP) }
    }

    /// Freezes every session process of `sshd` (descendants of the listening sshd, which itself keeps
    /// accepting), after waiting for at least one to exist.
    public static func sessions(of sshd: SSHDFixture) throws -> ProcessFreeze {
        let sessions = try Deadline.value(of: "an sshd session process") {
            let found = sshd.sessionProcesses
            return found.isEmpty ? nil : found
        }
        return ProcessFreeze(sessions.flatMap { [$0] + ProcessTree.descendants(of: $0) })
    }

    public func thaw() {
        guard frozen else { return }
        frozen = false
        pids.forEach { kill($0, SIGCONT) }
    }

    deinit { thaw() }
}
