import Foundation
import Logging
import TunnelCore
import SSHKeys

/// Authenticates a session like OpenSSH: the identities of `IdentityPlan` (certificates, agent keys, key files;
/// passphrases asked on the terminal) → keyboard-interactive → password.
struct Authenticator {
    let settings: TunnelSettings
    let prompt: SecretPrompt
    let logger: Logger
    let environment: [String: String]
    let home: String

    /// OpenSSH's NumberOfPasswordPrompts default.
    static let maximumPrompts = 3
    /// rsa-sha2-256 second chances are offered only while fewer offers than this were made: one below
    /// sshd's default MaxAuthTries (6), so they never trigger its disconnect and one try remains for
    /// keyboard-interactive or a password.
    static let rsaRetryAttemptLimit = 5

    /// Authenticates `session`; returns what succeeded so further sessions of a pool can reuse it.
    @discardableResult
    func authenticate(_ session: SSHSession) throws -> SSHCredential {
        let user = settings.user
        let methods = try session.authenticationMethods(user: user)
        if session.isAuthenticated { return .none }
        logger.debug("server offers authentication methods", metadata: ["methods": "\(methods.joined(separator: ","))"])
        var tried: [String] = []
        var wrongPassphrase: (file: String, attempts: Int)?

        if methods.contains("publickey") {
            let plan = IdentityPlan(settings: settings, environment: environment, home: home)
            for note in plan.notes { logger.notice("\(note)") }
            var refusedRSA: [(OfferedIdentity, SigningKey)] = []
            // sshd drops the connection once MaxAuthTries keys failed (OpenSSH: "Too many authentication
            // failures"); libssh2 reports that as an error or as one more refusal, depending on timing.
            func guarded(_ label: String, _ body: () throws -> SSHCredential?) throws -> SSHCredential? {
                let tooMany = SSHError.tooManyAuthenticationFailures(user: user, host: settings.sshHost, tried: tried + [label])
                do {
                    if let used = try body() { return used }
                } catch let failure as LibSSH2Failure where failure.isDisconnect && !tried.isEmpty {
                    throw tooMany
                }
                if session.isAuthenticated { return SSHCredential.none }
                if session.serverDisconnected { throw tooMany }
                return nil
            }
            for identity in plan.identities {
                if let used = try guarded(identity.label, {
                    try offer(identity, on: session, tried: &tried, wrongPassphrase: &wrongPassphrase, refusedRSA: &refusedRSA)
                }) { return used }
            }
            // The server refused these RSA keys under rsa-sha2-512: it may accept only rsa-sha2-256 (libssh2 1.10
            // cannot read its server-sig-algs). The second chances come after every other identity, so a server
            // that takes rsa-sha2-512 never pays for them, and stop while fewer than `rsaRetryAttemptLimit`
            // offers were made, so they never cost the connection at sshd's default MaxAuthTries.
            for (identity, key) in refusedRSA where tried.count < Self.rsaRetryAttemptLimit {
                let retry = identity.offered(as: .sha256)
                logger.debug("offering \(identity.label) again as rsa-sha2-256")
                if let used = try guarded(retry.label, {
                    tried.append(retry.label)
                    var refusedAgain: [(OfferedIdentity, SigningKey)] = []
                    return try attempt(retry, key: key, on: session, refusedRSA: &refusedAgain)
                }) { return used }
            }
        }
        if methods.contains("keyboard-interactive"), prompt.canAsk {
            tried.append("keyboard-interactive")
            session.interactive.answer = { text, echo in
                prompt.ask(text.isEmpty ? "(\(user)@\(settings.sshHost)) Password: " : "(\(user)@\(settings.sshHost)) \(text)", echo: echo)
            }
            for _ in 0..<Self.maximumPrompts {
                if try session.authenticateKeyboardInteractive(user: user) == .success { return .keyboardInteractive }
            }
        }
        if methods.contains("password"), prompt.canAsk {
            tried.append("password")
            for _ in 0..<Self.maximumPrompts {
                guard let password = prompt.ask("\(user)@\(settings.sshHost)'s password: ") else { break }
                if try session.authenticate(user: user, password: password) == .success { return .password(password) }
            }
        }
        if let wrongPassphrase { throw SSHError.wrongPassphrase(file: wrongPassphrase.file, attempts: wrongPassphrase.attempts) }
        throw SSHError.authenticationFailed(user: user, host: settings.sshHost, tried: tried)
    }

    /// Offers one identity (asking for a passphrase when its file needs one); the credential when it logged in.
    /// An RSA key the server refused is added to `refusedRSA` with what signs for it (no second passphrase prompt).
    private func offer(_ identity: OfferedIdentity, on session: SSHSession, tried: inout [String],
                       wrongPassphrase: inout (file: String, attempts: Int)?,
                       refusedRSA: inout [(OfferedIdentity, SigningKey)]) throws -> SSHCredential? {
        guard case .file(let file) = identity.signer, file.isEncrypted else {
            tried.append(identity.label)
            let key = SigningKey.unencrypted(identity)
            if case .unusable(let reason) = key { logger.warning("cannot use \(identity.label): \(reason)"); return nil }
            return try attempt(identity, key: key, on: session, refusedRSA: &refusedRSA)
        }
        guard prompt.canAsk else {
            logger.notice("identity file \(file.path) needs a passphrase and there is no terminal or SSH_ASKPASS to ask; skipping it")
            return nil
        }
        tried.append(identity.label)
        var wrong = 0
        for _ in 0..<Self.maximumPrompts {
            guard let passphrase = prompt.ask("Enter passphrase for key '\(file.path)': ") else { break }
            let key = SigningKey.unlock(identity, file: file, passphrase: passphrase)
            switch key {
            case .wrongPassphrase:
                wrong += 1
                if wrong < Self.maximumPrompts { logger.notice("wrong passphrase for \(file.path), try again") }
                continue
            case .unusable(let reason):
                logger.warning("cannot use \(identity.label): \(reason)")
                return nil
            default:
                break
            }
            switch try SigningKey.offer(identity, key: key, on: session, user: settings.user) {
            case .success: return .publicKey(identity, key)
            case .denied:
                if key.isRSA { refusedRSA.append((identity, key)) }
                return nil
            case .unreadableKey:
                // libssh2 could not decrypt the file: for its own files that means a wrong passphrase.
                wrong += 1
                if wrong < Self.maximumPrompts { logger.notice("wrong passphrase for \(file.path), try again") }
            }
        }
        if wrong == Self.maximumPrompts, wrongPassphrase == nil { wrongPassphrase = (file.path, wrong) }
        return nil
    }

    private func attempt(_ identity: OfferedIdentity, key: SigningKey, on session: SSHSession,
                           refusedRSA: inout [(OfferedIdentity, SigningKey)]) throws -> SSHCredential? {
        switch try SigningKey.offer(identity, key: key, on: session, user: settings.user) {
        case .success: return .publicKey(identity, key)
        case .denied:
            if identity.isRSA || key.isRSA { refusedRSA.append((identity, key)) }
            return nil
        case .unreadableKey(let reason):
            logger.warning("cannot use identity \(identity.label): \(reason)")
            return nil
        }
    }
}

/// What signs for an offered identity once its file (if any) is unlocked: the agent, an RSA key in memory, or
/// libssh2 reading the file with this passphrase. Kept in a pool's credential so further sessions sign without asking.
enum SigningKey: @unchecked Sendable {
    case agent
    case rsa(KeyCrypto.RSAKey)
    case libssh2File(passphrase: String?)
    case wrongPassphrase
    case unusable(String)

    /// An RSA key in memory (a file's public half may be missing, so the identity cannot tell).
    var isRSA: Bool {
        if case .rsa = self { return true }
        return false
    }

    /// The key of an identity that needs no passphrase.
    static func unencrypted(_ identity: OfferedIdentity) -> SigningKey {
        switch identity.signer {
        case .agent: return .agent
        case .file(let file): return unlock(identity, file: file, passphrase: nil)
        }
    }

    /// RSA files (and PEM files whose type shows only once decrypted) are decoded here; the rest go to libssh2.
    static func unlock(_ identity: OfferedIdentity, file: PrivateKeyFile, passphrase: String?) -> SigningKey {
        guard file.isRSA || (file.format == .pem && file.keyType == nil) else { return .libssh2File(passphrase: passphrase) }
        do {
            let key = try file.decode(passphrase: passphrase.map { Array($0.utf8) })
            guard let rsa = key.rsa else { return .libssh2File(passphrase: passphrase) }
            return .rsa(rsa)
        } catch KeyFileError.unsupportedKeyType where !file.isRSA {
            return .libssh2File(passphrase: passphrase)
        } catch KeyFileError.wrongPassphrase {
            return .wrongPassphrase
        } catch {
            return .unusable("\(error)")
        }
    }

    /// One publickey attempt (one of the server's MaxAuthTries).
    static func offer(_ identity: OfferedIdentity, key: SigningKey, on session: SSHSession, user: String) throws -> SSHSession.AuthOutcome {
        switch (identity.signer, key) {
        case (.agent(let socket, let keyBlob), _):
            let agent = AgentClient(socketPath: socket)
            let isRSA = identity.isRSA
            let algorithm = identity.rsaAlgorithm
            let signer = PublicKeySigner { data in
                let reply = try agent.sign(keyBlob: keyBlob, data: data, flags: isRSA ? algorithm.agentFlag : 0)
                if isRSA, reply.algorithm != algorithm.rawValue {
                    throw SSHError.agentSignatureAlgorithm(socket: socket, asked: algorithm.rawValue, algorithm: reply.algorithm)
                }
                return reply.signature
            }
            let outcome = try session.authenticate(user: user, blob: identity.requestBlob, signer: signer)
            if outcome != .success, let failure = signer.failure { return .unreadableKey("\(failure)") }
            return outcome
        case (.file, .rsa(let rsa)):
            let algorithm = identity.rsaAlgorithm
            let signer = PublicKeySigner { data in
                guard let signature = rsa.sign(data, sha512: algorithm == .sha512) else { throw SSHError.signingFailed(key: identity.label) }
                return signature
            }
            // From the key itself: an encrypted PEM file without .pub shows its public half only now.
            let numbers = rsa.publicNumbers
            return try session.authenticate(user: user, blob: OfferedIdentity.rsaRequestBlob(e: numbers.e, n: numbers.n, algorithm: algorithm),
                                            signer: signer)
        case (.file(let file), .libssh2File(let passphrase)):
            return try session.authenticate(user: user, privateKey: file.path, publicKey: identity.certificatePath,
                                            passphrase: passphrase)
        case (.file, _):
            return .unreadableKey("no usable key")
        }
    }
}
