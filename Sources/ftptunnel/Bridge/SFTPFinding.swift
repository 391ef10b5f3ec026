/// What `ftptunnel check` learnt about the SSH server's SFTP subsystem, and whether Mode sftp would fit.
enum SFTPFinding: Equatable {
    /// SFTP works and SFTPRoot (or the login directory) is a readable directory; `reusableLogin` false for a
    /// keyboard-interactive login.
    case offered(root: String, reusableLogin: Bool)
    case rootUnusable(root: String, reason: String)
    case notOffered(reason: String)
    /// The SSH connection itself failed (the FTP part of the check reports why).
    case notChecked(reason: String)

    /// True when `Mode sftp` would work with these settings.
    var bridgeFits: Bool {
        if case .offered(_, true) = self { return true }
        return false
    }

    /// The report's lines about SFTP.
    func reportLines(sftpRoot: String?) -> [String] {
        switch self {
        case .offered(let root, true):
            return ["SFTP: offered; \(sftpRoot == nil ? "the login directory" : "SFTPRoot") is \(root).",
                    "Mode sftp would fit: no FTP server needed (ftptunnel connect SITE --mode sftp, or `Mode sftp` in the profile)."]
        case .offered(let root, false):
            return ["SFTP: offered (\(root)), but the login used keyboard-interactive authentication, which cannot be repeated for every FTP session: Mode sftp needs a key, ssh-agent or a password."]
        case .rootUnusable(let root, let reason):
            return ["SFTP: offered, but SFTPRoot \(root) cannot be used (\(reason)); Mode sftp needs an existing directory there."]
        case .notOffered(let reason):
            return ["SFTP: not offered by the SSH server (\(reason)); Mode sftp is not possible with this server."]
        case .notChecked(let reason):
            return ["SFTP: not checked (\(reason))."]
        }
    }
}
