import Foundation
import Logging
import TunnelCore
import SSHKeys

/// The identities offered for public-key authentication, in OpenSSH's order (sshconnect2.c pubkey_prepare):
/// CertificateFile certificates, then `KEY-cert.pub` beside the IdentityFiles, then agent keys that match an
/// IdentityFile, then the agent's other keys (none with IdentitiesOnly), then IdentityFiles the agent does not
/// hold. Every offer costs one of the server's MaxAuthTries. Certificates that cannot work (expired, not yet
/// valid, host certificates, no private key, and the RSA and ed25519 ones libssh2 1.10 cannot log in with: it
/// strips `-cert-v01@openssh.com` from the signature's name for ECDSA certificates only, and has no signer for
/// ed25519 certificate files) are left out with a note before anything is tried.
struct IdentityPlan {
    private(set) var identities: [OfferedIdentity] = []
    /// Why something was left out, one sentence each (logged at notice, listed by `show`).
    private(set) var notes: [String] = []
    /// The agent socket in use, nil when none.
    private(set) var agentSocket: String?

    static let defaultIdentityFiles = ["~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa"]

    init(settings: TunnelSettings, environment: [String: String], home: String,
         now: UInt64 = UInt64(Date().timeIntervalSince1970)) {
        // Identity files: explicit ones (a problem is worth a note), else the defaults that exist.
        var files: [(path: String, file: PrivateKeyFile, blob: [UInt8]?)] = []
        let explicit = !settings.identityFiles.isEmpty
        let paths = explicit ? settings.identityFiles : Self.defaultIdentityFiles.map { PathExpansion.expand($0, home: home) }
        for path in paths {
            do {
                let file = try PrivateKeyFile.load(path)
                if let type = file.keyType, !Self.signable.contains(type) {
                    notes.append("identity file \(path) holds a \(type) key, which ftptunnel cannot use; skipping it")
                    continue
                }
                files.append((path, file, file.publicBlob ?? PublicKeyLine.read(path + ".pub")?.blob))
            } catch KeyFileError.unreadable(_, "no such file") where !explicit {
                continue
            } catch {
                notes.append("\(error); skipping it")
            }
        }

        let agentKeys = Self.agentIdentities(settings: settings, environment: environment, home: home, notes: &notes)
        agentSocket = agentKeys?.socket
        let agentList = agentKeys?.identities ?? []
        func agentOffer(_ identity: AgentMessages.Identity, origin: String) -> OfferedIdentity {
            OfferedIdentity(signer: .agent(socket: agentSocket ?? "", keyBlob: identity.blob), offeredBlob: identity.blob,
                            certificatePath: nil, origin: origin)
        }
        func agentOrigin(_ identity: AgentMessages.Identity) -> String {
            identity.comment.isEmpty ? "ssh-agent" : "ssh-agent (\(identity.comment))"
        }

        // 1 and 2: certificates from CertificateFile, then KEY-cert.pub beside each identity file.
        var certificatePaths = settings.certificateFiles.map { ($0, "CertificateFile \($0)", true) }
        for entry in files where FileManager.default.fileExists(atPath: entry.path + "-cert.pub") {
            if !certificatePaths.contains(where: { $0.0 == entry.path + "-cert.pub" }) {
                certificatePaths.append((entry.path + "-cert.pub", "\(entry.path)-cert.pub beside IdentityFile \(entry.path)", false))
            }
        }
        for (path, origin, _) in certificatePaths {
            guard FileManager.default.isReadableFile(atPath: path) else {
                notes.append("certificate \(path) does not exist or cannot be read; check CertificateFile; skipping it")
                continue
            }
            guard let line = PublicKeyLine.read(path), let certificate = try? SSHCertificate(blob: line.blob) else {
                notes.append("certificate \(path) cannot be read as an OpenSSH certificate; skipping it")
                continue
            }
            guard let problem = Self.problem(with: certificate, named: "certificate \(path)", now: now) else {
                if let file = files.first(where: { $0.blob == certificate.keyBlob }) {
                    identities.append(OfferedIdentity(signer: .file(file.file), offeredBlob: line.blob, certificatePath: path,
                                                      origin: "\(origin) with key \(file.path)"))
                } else if let key = agentList.first(where: { $0.blob == certificate.keyBlob }) {
                    identities.append(OfferedIdentity(signer: .agent(socket: agentSocket ?? "", keyBlob: key.blob),
                                                      offeredBlob: line.blob, certificatePath: path,
                                                      origin: "\(origin) with key from \(agentOrigin(key))"))
                } else {
                    notes.append("certificate \(path) certifies a key that is neither in an IdentityFile nor in ssh-agent; skipping it")
                }
                continue
            }
            notes.append(problem)
        }

        // 3 and 4: agent keys matching an identity file (in IdentityFile order), then the agent's other keys.
        var fromAgent = Set<[UInt8]>()
        for entry in files {
            guard let blob = entry.blob, let key = agentList.first(where: { $0.blob == blob }) else { continue }
            identities.append(agentOffer(key, origin: "\(agentOrigin(key)), matching IdentityFile \(entry.path)"))
            fromAgent.insert(blob)
        }
        if !settings.identitiesOnly {
            for key in agentList where !fromAgent.contains(key.blob) {
                if SSHCertificate.isCertificateType(key.type) {
                    guard let certificate = try? SSHCertificate(blob: key.blob) else { continue }
                    if let problem = Self.problem(with: certificate, named: "the \(agentOrigin(key)) certificate", now: now) {
                        notes.append(problem)
                        continue
                    }
                } else if !Self.signable.contains(key.type) {
                    notes.append("\(agentOrigin(key)) holds a \(key.type) key, which ftptunnel cannot use; skipping it")
                    continue
                }
                identities.append(agentOffer(key, origin: agentOrigin(key)))
            }
        }

        // 5: identity files the agent does not hold.
        for entry in files where !(entry.blob.map(fromAgent.contains) ?? false) {
            let type = entry.file.keyType ?? "key"
            identities.append(OfferedIdentity(signer: .file(entry.file), offeredBlob: entry.blob ?? [],
                                              certificatePath: nil, origin: "IdentityFile \(entry.path) (\(type))"))
        }
    }

    /// Plain key types this client signs for.
    static let signable: Set<String> = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"]

    /// Why `certificate` would be refused, said before it is offered; nil when it can be tried.
    static func problem(with certificate: SSHCertificate, named name: String, now: UInt64) -> String? {
        if certificate.keyType == "ssh-rsa" {
            return "\(name) is an RSA certificate, which libssh2 1.10 cannot log in with (it sends the certificate's own name, ssh-rsa-cert-v01@openssh.com, which OpenSSH 8.8 and later refuse; they need rsa-sha2-512-cert-v01@openssh.com); skipping it — ask for an ECDSA certificate"
        }
        if certificate.keyType == "ssh-ed25519" {
            return "\(name) is an ed25519 certificate, which libssh2 1.10 cannot log in with (it names the signature ssh-ed25519-cert-v01@openssh.com where sshd expects ssh-ed25519, stripping that suffix for ECDSA certificates only, so sshd refuses it: \"key type does not match\"); skipping it — ask for an ECDSA certificate (ssh-keygen -t ecdsa)"
        }
        if certificate.certificateType != 1 { return "\(name) is a host certificate, not a user certificate; skipping it" }
        switch certificate.validity(at: now) {
        case .valid: return nil
        case .expired: return "\(name) expired at \(Self.format(certificate.validBefore)); skipping it — ask for a new certificate"
        case .notYetValid: return "\(name) is not valid before \(Self.format(certificate.validAfter)); skipping it — check the clock or wait"
        }
    }

    private static func format(_ seconds: UInt64) -> String {
        guard seconds < UInt64(Int64.max) else { return "forever" }
        let formatter = ISO8601DateFormatter()
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }

    /// The agent's identities, nil when there is no agent (IdentityAgent none, no SSH_AUTH_SOCK) or it cannot be
    /// reached (then with a note).
    private static func agentIdentities(settings: TunnelSettings, environment: [String: String], home: String,
                                        notes: inout [String]) -> (socket: String, identities: [AgentMessages.Identity])? {
        guard let socket = agentSocket(settings.identityAgent, environment: environment) else { return nil }
        let client = AgentClient(socketPath: socket)
        do {
            return (socket, try client.identities())
        } catch {
            notes.append("\(error)")
            return nil
        }
    }

    /// IdentityAgent's socket: nil for `none` or an unset SSH_AUTH_SOCK.
    static func agentSocket(_ identityAgent: String?, environment: [String: String]) -> String? {
        switch identityAgent {
        case "none": return nil
        case nil, "SSH_AUTH_SOCK":
            guard let socket = environment["SSH_AUTH_SOCK"], !socket.isEmpty else { return nil }
            return socket
        case let path?: return path
        }
    }
}
