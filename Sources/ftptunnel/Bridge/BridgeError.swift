/// Why Mode sftp cannot start; each says what to do.
enum BridgeError: Error, CustomStringConvertible {
    /// Keyboard-interactive answers cannot be replayed, and every FTP session needs its own SSH session.
    case loginNotRepeatable
    case noSFTP(host: String, reason: String)
    case rootUnusable(root: String, reason: String)

    var description: String {
        switch self {
        case .loginNotRepeatable:
            return "Mode sftp opens one SSH session per FTP session, but this login used keyboard-interactive authentication, whose answers cannot be reused without asking again; use a key (IdentityFile or ssh-agent) or password authentication for this site"
        case .noSFTP(let host, let reason):
            return "\(host) offers no SFTP subsystem (\(reason)); Mode sftp needs `Subsystem sftp` in the server's sshd_config — use Mode rewrite with an FTP server there instead"
        case .rootUnusable(let root, let reason):
            return "SFTPRoot \(root) cannot be used on the server (\(reason)); set SFTPRoot (--sftp-root) to an existing directory, or leave it out to serve the login directory"
        }
    }
}
