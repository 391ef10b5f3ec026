import SSHKeys

/// One public key (or certificate) the authenticator offers, with what signs for it and where it came from.
struct OfferedIdentity: Sendable {
    enum Signer: Sendable {
        /// ssh-agent signs with `keyBlob` (the key as the agent listed it: plain key or certificate).
        case agent(socket: String, keyBlob: [UInt8])
        /// A private key file: RSA keys are decoded and signed by SSHKeys (rsa-sha2-512); ed25519 and ECDSA files
        /// are read and signed by libssh2 itself, as before.
        case file(PrivateKeyFile)
    }

    let signer: Signer
    /// What the server is shown: the plain key blob, or the certificate blob.
    let offeredBlob: [UInt8]
    /// The certificate file offered instead of the plain key (libssh2 takes it as the public key file).
    let certificatePath: String?
    /// Where it came from, for `show` and log lines: `IdentityFile ~/.ssh/id_rsa`, `ssh-agent (alice@laptop)` ….
    let origin: String

    /// `ssh-ed25519`, `ssh-rsa`, `ssh-ed25519-cert-v01@openssh.com` ….
    var type: String { SSHKeyReader.firstText(offeredBlob) ?? "unknown" }
    var isRSA: Bool { type == "ssh-rsa" }

    /// How the failure message lists it.
    var label: String {
        switch signer {
        case .agent: return "\(type) from \(origin)"
        case .file(let file): return certificatePath.map { "certificate \($0)" } ?? file.path
        }
    }

    /// The blob for `libssh2_userauth_publickey`: an RSA key's type string becomes `rsa-sha2-512`, the
    /// algorithm OpenSSH's client uses (never `ssh-rsa`, which is SHA-1).
    var requestBlob: [UInt8] {
        guard isRSA else { return offeredBlob }
        var reader = SSHKeyReader(offeredBlob)
        guard (try? reader.readString()) != nil, let e = try? reader.readMPInt(), let n = try? reader.readMPInt() else {
            return offeredBlob
        }
        return Self.rsaRequestBlob(e: e, n: n)
    }

    /// `string "rsa-sha2-512", mpint e, mpint n`.
    static func rsaRequestBlob(e: [UInt8], n: [UInt8]) -> [UInt8] {
        var writer = SSHKeyWriter()
        writer.appendString(rsaAlgorithm)
        writer.appendMPInt(e)
        writer.appendMPInt(n)
        return writer.bytes
    }

    static let rsaAlgorithm = "rsa-sha2-512"
}
