import Foundation
import Logging

/// What authenticated the first session of a pool, so further sessions authenticate without asking again.
/// A typed passphrase or password lives only in this value (process memory), never on disk.
enum SSHCredential: Sendable {
    /// The server accepted the user without authentication ("none").
    case none
    /// The ssh-agent identity with this public key blob.
    case agentKey(blob: [UInt8])
    /// A private key file, with the passphrase the user typed (nil for an unencrypted key).
    case keyFile(path: String, passphrase: String?)
    case password(String)
    /// Keyboard-interactive answers are challenges (OTP, PAM conversations): they cannot be replayed.
    case keyboardInteractive

    /// False when a second session would have to ask the user again.
    var isReusable: Bool {
        if case .keyboardInteractive = self { return false }
        return true
    }

    /// Names the method for log lines (never the secret).
    var methodName: String {
        switch self {
        case .none: return "none"
        case .agentKey: return "ssh-agent key"
        case .keyFile(let path, _): return "identity file \(path)"
        case .password: return "password"
        case .keyboardInteractive: return "keyboard-interactive"
        }
    }

    /// Authenticates another session as `user` with this credential, without prompting.
    func replay(on session: SSHSession, user: String) throws {
        let methods = try session.authenticationMethods(user: user)
        if session.isAuthenticated { return }
        let accepted: Bool
        switch self {
        case .none:
            accepted = false
        case .agentKey(let wanted):
            accepted = try methods.contains("publickey")
                && session.authenticateWithAgent(user: user) { _, blob, _ in blob == wanted }.success
        case .keyFile(let path, let passphrase):
            accepted = try methods.contains("publickey")
                && session.authenticate(user: user, privateKey: path, passphrase: passphrase) == .success
        case .password(let password):
            accepted = try methods.contains("password")
                && session.authenticate(user: user, password: password) == .success
        case .keyboardInteractive:
            accepted = false
        }
        guard accepted else { throw SessionPoolError.credentialRefused(method: methodName) }
    }
}
