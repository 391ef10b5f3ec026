import Foundation
import Logging

/// What authenticated the first session of a pool, so further sessions authenticate without asking again.
/// A typed passphrase or password lives only in this value (process memory), never on disk.
enum SSHCredential: Sendable {
    /// The server accepted the user without authentication ("none").
    case none
    /// A key or certificate (agent or file) and what signs for it (an unlocked RSA key, the typed passphrase).
    case publicKey(OfferedIdentity, SigningKey)
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
        case .publicKey(let identity, _): return identity.origin
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
        case .publicKey(let identity, let key):
            accepted = try methods.contains("publickey")
                && SigningKey.offer(identity, key: key, on: session, user: user) == .success
        case .password(let password):
            accepted = try methods.contains("password")
                && session.authenticate(user: user, password: password) == .success
        case .keyboardInteractive:
            accepted = false
        }
        guard accepted else { throw SessionPoolError.credentialRefused(method: methodName) }
    }
}
