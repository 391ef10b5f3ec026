/// Why an SSH session could not be brought up or ended. Each case prints one sentence plus a hint.
enum SSHError: Error, CustomStringConvertible {
    case resolveFailed(host: String, reason: String)
    case connectFailed(host: String, port: Int, reason: String)
    case handshakeFailed(host: String, port: Int, reason: String)
    case noSupportedAlgorithm(keyword: String, requested: [String], supported: [String])
    case hostKeyUnknown(host: String, fingerprint: String, knownHosts: String, policy: String)
    case hostKeyRejected(host: String, fingerprint: String)
    case hostKeyChanged(host: String, keyType: String, recorded: String, presented: String, file: String, line: Int)
    case hostKeyRevoked(host: String, fingerprint: String, file: String, line: Int)
    case cannotRecordHostKey(file: String, reason: String)
    case authenticationFailed(user: String, host: String, tried: [String], skippedRSA: [String])
    case sessionLost(reason: String)
    case serverNotAnswering(seconds: Int)

    var description: String {
        switch self {
        case .resolveFailed(let host, let reason):
            return "cannot resolve SSH host \(host): \(reason); check HostName/DEST spelling and DNS"
        case .connectFailed(let host, let port, let reason):
            return "cannot connect to SSH server \(host):\(port): \(reason); check the host, -p/Port and that sshd is running"
        case .handshakeFailed(let host, let port, let reason):
            return "SSH handshake with \(host):\(port) failed: \(reason); check that the server speaks SSH-2 and shares a cipher/MAC/KEX with libssh2 (aes128-ctr, hmac-sha2-256, curve25519-sha256)"
        case .noSupportedAlgorithm(let keyword, let requested, let supported):
            return "none of \(keyword) \(requested.joined(separator: ",")) is supported by libssh2; choose from \(supported.joined(separator: ","))"
        case .hostKeyUnknown(let host, let fingerprint, let knownHosts, let policy):
            return "host key for \(host) is not known (\(fingerprint)) and StrictHostKeyChecking is \(policy); verify the fingerprint with the server's administrator, then add it to \(knownHosts) or run once with -o StrictHostKeyChecking=accept-new"
        case .hostKeyRejected(let host, let fingerprint):
            return "host key for \(host) (\(fingerprint)) was not accepted; nothing was forwarded"
        case .hostKeyChanged(let host, let keyType, let recorded, let presented, let file, let line):
            return """
            REMOTE HOST IDENTIFICATION HAS CHANGED for \(host): the \(keyType) key on record is \(recorded), the server presented \(presented). \
            Someone could be intercepting the connection (man-in-the-middle), or the host key was replaced. \
            Offending entry: \(file):\(line). If the change is expected, remove that line (ssh-keygen -R '\(host)' -f \(file)) and connect again; nothing was forwarded
            """
        case .hostKeyRevoked(let host, let fingerprint, let file, let line):
            return "host key for \(host) (\(fingerprint)) is marked @revoked in \(file):\(line); refusing to connect"
        case .cannotRecordHostKey(let file, let reason):
            return "cannot add the host key to \(file): \(reason); check the directory exists and is writable, or pass --known-hosts FILE"
        case .authenticationFailed(let user, let host, let tried, let skippedRSA):
            var text = "authentication as \(user)@\(host) failed (tried: \(tried.isEmpty ? "nothing usable" : tried.joined(separator: ", ")))"
            if !skippedRSA.isEmpty {
                text += "; RSA keys were skipped (\(skippedRSA.joined(separator: ", "))): \(Self.rsaExplanation); create an ed25519 key with `ssh-keygen -t ed25519` and add it to the server's authorized_keys"
            } else {
                text += "; check -l/User, -i/IdentityFile and the server's authorized_keys, or use ssh-agent"
            }
            return text
        case .sessionLost(let reason):
            return "SSH session lost: \(reason)"
        case .serverNotAnswering(let seconds):
            return "SSH server did not answer for \(seconds) s (ServerAliveInterval × ServerAliveCountMax)"
        }
    }

    /// The one line explaining skipped RSA identities (DESIGN 3.2).
    static let rsaExplanation = "libssh2 1.10 signs only with ssh-rsa (SHA-1), which OpenSSH 8.8 and later reject (signature algorithm ssh-rsa not in PubkeyAcceptedAlgorithms)"
}
