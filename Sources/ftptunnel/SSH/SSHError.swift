import ProgramSupport
import TunnelCore

/// Why an SSH session could not be brought up or ended. Each case prints one sentence plus a hint.
enum SSHError: Error, CustomStringConvertible {
    case resolveFailed(host: String, reason: String)
    case connectFailed(host: String, port: Int, reason: String)
    case handshakeFailed(host: String, port: Int, reason: String)
    case noSupportedAlgorithm(keyword: String, requested: [String], supported: [String])
    case hostKeyUnknown(host: String, fingerprint: String, knownHosts: String, policy: String)
    case hostKeyRejected(host: String, fingerprint: String)
    /// At the host-key question the user pasted a fingerprint that is not the presented key's.
    case hostKeyFingerprintMismatch(host: String, presented: String, pasted: String)
    /// `recorded`: every key on record for the host (none of them is the presented one, whatever its type).
    case hostKeyChanged(host: String, keyType: String, presented: String, recorded: [HostKeyStatus.Recorded])
    case hostKeyRevoked(host: String, fingerprint: String, file: String, line: Int)
    case cannotRecordHostKey(file: String, reason: String)
    /// A known_hosts file exists but cannot be read whole: nothing is trusted or recorded.
    case knownHostsUnreadable(KnownHostsError)
    case authenticationFailed(user: String, host: String, tried: [String])
    /// The server hung up while public keys were offered (its MaxAuthTries).
    case tooManyAuthenticationFailures(user: String, host: String, tried: [String])
    /// The agent answered an rsa-sha2-512 request with another algorithm (an agent without SHA-2 RSA support).
    case agentSignatureAlgorithm(socket: String, asked: String, algorithm: String)
    case signingFailed(key: String)
    /// Every passphrase typed for the identity file was wrong (and nothing else logged in).
    case wrongPassphrase(file: String, attempts: Int)
    case sessionLost(reason: String)
    case serverNotAnswering(seconds: Int)
    /// Not a failure: the session's ServerAlive budget is nearly spent and nothing runs on it, so it is replaced.
    case keepaliveBudgetSpent(probes: Int)
    /// The bastion's sshd refused the `direct-tcpip` channel to the next hop.
    case jumpChannelRefused(bastion: String, target: String, reason: String)
    /// The ProxyCommand could not be started, or ended before the SSH session came up.
    case proxyCommandFailed(command: String, reason: String)

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
            return "host key for \(host) is not known (\(fingerprint)) and StrictHostKeyChecking is \(policy); verify the fingerprint with the server's administrator, then add it to \(VisibleText.of(knownHosts)) or run once with -o StrictHostKeyChecking=accept-new"
        case .hostKeyRejected(let host, let fingerprint):
            return "host key for \(host) (\(fingerprint)) was not accepted; nothing was forwarded"
        case .hostKeyFingerprintMismatch(let host, let presented, let pasted):
            return "the fingerprint you pasted (\(pasted)) is not the one \(host) presented (\(presented)): host key refused, "
                + "nothing was forwarded; check the fingerprint with the server's administrator (ssh-keygen -lf on the server's host key)"
        case .hostKeyChanged(let host, let keyType, let presented, let recorded):
            let onRecord = recorded.map { "\($0.keyType) \(Fingerprint.sha256(ofKeyBase64: $0.keyBase64)) (\(VisibleText.of($0.file)):\($0.line))" }
            let entries = recorded.map { "\(VisibleText.of($0.file)):\($0.line)" }
            var files: [String] = []
            for key in recorded where !files.contains(VisibleText.of(key.file)) { files.append(VisibleText.of(key.file)) }
            let removal = files.map { "ssh-keygen -R '\(host)' -f \($0)" }.joined(separator: "; ")
            return """
            REMOTE HOST IDENTIFICATION HAS CHANGED for \(host): the server presented the \(keyType) key \(presented), \
            but known_hosts records \(onRecord.joined(separator: ", ")). \
            Someone could be intercepting the connection (man-in-the-middle), or the host key was replaced. \
            Offending \(entries.count == 1 ? "entry" : "entries"): \(entries.joined(separator: ", ")). \
            If the change is expected, remove \(entries.count == 1 ? "that line" : "those lines") (\(removal)) and connect again; nothing was forwarded
            """
        case .hostKeyRevoked(let host, let fingerprint, let file, let line):
            return "host key for \(host) (\(fingerprint)) is marked @revoked in \(VisibleText.of(file)):\(line); refusing to connect"
        case .cannotRecordHostKey(let file, let reason):
            return "cannot add the host key to \(VisibleText.of(file)): \(reason); check the directory exists and is writable, or pass --known-hosts FILE"
        case .knownHostsUnreadable(let error):
            return VisibleText.of(error.description)
        case .authenticationFailed(let user, let host, let tried):
            return "authentication as \(user)@\(host) failed (tried: \(tried.isEmpty ? "nothing usable" : tried.joined(separator: ", "))); "
                + "check -l/User, -i/IdentityFile, CertificateFile and the server's authorized_keys, or use ssh-agent "
                + "(`ftptunnel show DEST` lists the identities offered)"
        case .tooManyAuthenticationFailures(let user, let host, let tried):
            return "\(host) closed the connection while public keys were offered for \(user) (tried: \(tried.joined(separator: ", "))): "
                + "it allows only so many attempts (MaxAuthTries); set IdentitiesOnly yes with the IdentityFile it knows, "
                + "or remove keys from ssh-agent (`ftptunnel show DEST` lists what is offered)"
        case .agentSignatureAlgorithm(let socket, let asked, let algorithm):
            return "the ssh-agent at \(socket) signed with \(algorithm) instead of \(asked); update the agent (it needs SHA-2 RSA signatures) or use the key file with -i"
        case .signingFailed(let key):
            return "libcrypto could not sign with \(key); check the key with `ssh-keygen -y -f` on it"
        case .wrongPassphrase(let file, let attempts):
            return "wrong passphrase for \(file) (\(attempts) attempt\(attempts == 1 ? "" : "s")); nothing else logged in. "
                + "Run again and retype it, or change it with `ssh-keygen -p -f \(file)`"
        case .sessionLost(let reason):
            return "SSH session lost: \(reason)"
        case .jumpChannelRefused(let bastion, let target, let reason):
            return "bastion \(bastion) refused the channel to \(target) (\(reason)); check that the bastion can reach \(target) and allows forwarding (AllowTcpForwarding no on the bastion?)"
        case .proxyCommandFailed(let command, let reason):
            return "ProxyCommand `\(command)` failed: \(reason); run the command by hand to see why, or check ProxyCommand in the profile or ~/.ssh/config"
        case .serverNotAnswering(let seconds):
            return "SSH server stopped answering: nothing came from it for \(seconds) s although it was asked (ServerAliveInterval, ServerAliveCountMax); it may be hung or overloaded, or the network is down"
        case .keepaliveBudgetSpent(let probes):
            return "planned replacement of the SSH session after \(probes) keepalives (libssh2 1.10 keeps every reply until the session ends) while no transfer runs on it"
        }
    }

}

/// A bastion (ProxyJump) could not be passed: `hop` names it (`bastion 1 of 2 user@host:port`), `underlying` says why
/// (its exit status and whether a reconnect may retry are the underlying error's).
struct BastionError: Error, CustomStringConvertible {
    let hop: String
    let underlying: Error

    var description: String { "\(hop): \(underlying)" }
}
