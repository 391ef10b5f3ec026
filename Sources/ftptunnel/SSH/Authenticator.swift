import Foundation
import Logging
import Shared

/// Authenticates a session like OpenSSH: ssh-agent → identity files (passphrase asked) → keyboard-interactive
/// → password. RSA identities are skipped (libssh2 1.10 cannot sign rsa-sha2).
struct Authenticator {
    let settings: TunnelSettings
    let prompt: SecretPrompt
    let logger: Logger
    let environment: [String: String]
    let home: String

    /// OpenSSH's NumberOfPasswordPrompts default.
    static let maximumPrompts = 3
    static let defaultIdentityFiles = ["~/.ssh/id_ed25519", "~/.ssh/id_ecdsa"]

    /// Authenticates `session`; returns what succeeded so further sessions of a pool can reuse it.
    @discardableResult
    func authenticate(_ session: SSHSession) throws -> SSHCredential {
        let user = settings.user
        let methods = try session.authenticationMethods(user: user)
        if session.isAuthenticated { return .none }
        logger.debug("server offers authentication methods", metadata: ["methods": "\(methods.joined(separator: ","))"])
        var tried: [String] = []
        var skippedRSA: [String] = []
        let identities = identityFiles()
        var wrongPassphrase: (file: String, attempts: Int)?

        if methods.contains("publickey") {
            if let used = try agent(session, identities: identities, tried: &tried, skippedRSA: &skippedRSA) { return used }
            if let used = try files(session, identities: identities, tried: &tried, skippedRSA: &skippedRSA,
                                    wrongPassphrase: &wrongPassphrase) { return used }
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
        throw SSHError.authenticationFailed(user: user, host: settings.sshHost, tried: tried, skippedRSA: skippedRSA)
    }

    /// Identity files to try: settings.identityFiles, else the defaults that exist.
    private func identityFiles() -> [(path: String, explicit: Bool)] {
        if !settings.identityFiles.isEmpty {
            return settings.identityFiles.map { (PathExpansion.expand($0, home: home), true) }
        }
        return Self.defaultIdentityFiles.map { (PathExpansion.expand($0, home: home), false) }
    }

    private func agent(_ session: SSHSession, identities: [(path: String, explicit: Bool)],
                       tried: inout [String], skippedRSA: inout [String]) throws -> SSHCredential? {
        guard let socket = environment["SSH_AUTH_SOCK"], !socket.isEmpty else { return nil }
        // IdentitiesOnly: only agent keys whose public half matches one of the identity files.
        let allowed: Set<String>? = settings.identitiesOnly ? Set(identities.compactMap { publicKeyBase64(of: $0.path) }) : nil
        var rsa: [String] = []
        var lastOffered: [UInt8] = []
        let result = try session.authenticateWithAgent(user: settings.user) { type, blob, comment in
            if type == "ssh-rsa" { rsa.append("agent key \(comment.isEmpty ? type : comment)"); return false }
            if let allowed, !allowed.contains(Data(blob).base64EncodedString()) { return false }
            lastOffered = blob
            return true
        }
        tried += result.tried
        if !rsa.isEmpty {
            logger.notice("skipping RSA keys from ssh-agent: \(SSHError.rsaExplanation)")
            skippedRSA += rsa
        }
        return result.success ? .agentKey(blob: lastOffered) : nil
    }

    /// `wrongPassphrase`: the first file for which every passphrase typed was wrong.
    private func files(_ session: SSHSession, identities: [(path: String, explicit: Bool)],
                       tried: inout [String], skippedRSA: inout [String],
                       wrongPassphrase: inout (file: String, attempts: Int)?) throws -> SSHCredential? {
        for (path, explicit) in identities {
            guard let info = IdentityFileInfo.read(path) else {
                if explicit { logger.warning("identity file \(path) cannot be read; skipping it") }
                continue
            }
            if info.isRSA {
                logger.notice("skipping RSA key \(path): \(SSHError.rsaExplanation)")
                skippedRSA.append(path)
                continue
            }
            tried.append(path)
            if !info.isEncrypted {
                switch try session.authenticate(user: settings.user, privateKey: path, passphrase: nil) {
                case .success: return .keyFile(path: path, passphrase: nil)
                case .denied: continue
                case .unreadableKey(let reason): logger.warning("cannot use identity file \(path): \(reason)")
                }
                continue
            }
            guard prompt.canAsk else {
                logger.notice("identity file \(path) needs a passphrase and there is no terminal or SSH_ASKPASS to ask; skipping it")
                continue
            }
            var wrong = 0
            attempts: for _ in 0..<Self.maximumPrompts {
                guard let passphrase = prompt.ask("Enter passphrase for key '\(path)': ") else { break }
                switch try session.authenticate(user: settings.user, privateKey: path, passphrase: passphrase) {
                case .success: return .keyFile(path: path, passphrase: passphrase)
                case .denied: break attempts
                case .unreadableKey:
                    wrong += 1
                    if wrong < Self.maximumPrompts { logger.notice("wrong passphrase for \(path), try again") }
                }
            }
            if wrong == Self.maximumPrompts, wrongPassphrase == nil { wrongPassphrase = (path, wrong) }
        }
        return nil
    }

    /// The base64 key of `path.pub`, for IdentitiesOnly matching of agent keys.
    private func publicKeyBase64(of path: String) -> String? {
        guard let line = try? String(contentsOfFile: path + ".pub", encoding: .utf8) else { return nil }
        let fields = line.split(separator: " ")
        return fields.count >= 2 ? String(fields[1]) : nil
    }
}
