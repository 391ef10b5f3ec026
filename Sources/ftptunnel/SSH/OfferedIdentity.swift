import SSHKeys

/// One public key (or certificate) the authenticator offers, with what signs for it and where it came from.
struct OfferedIdentity: Sendable {
    enum Signer: Sendable {
        /// ssh-agent signs with `keyBlob` (the key as the agent listed it: plain key or certificate).
        case agent(socket: String, keyBlob: [UInt8])
        /// A private key file: RSA keys are decoded and signed by SSHKeys (rsa-sha2-*); ed25519 and ECDSA files
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
    /// The signature algorithm an RSA key is offered under (ignored for other keys).
    var rsaAlgorithm: RSAAlgorithm = .sha512

    /// The SHA-2 algorithms an RSA key can be offered under, in OpenSSH's order of preference (never `ssh-rsa`,
    /// which is SHA-1). libssh2 1.10 cannot read the server's `server-sig-algs`, so `Authenticator` offers
    /// rsa-sha2-512 first and rsa-sha2-256 only after the server refused the key under rsa-sha2-512.
    enum RSAAlgorithm: String, Sendable, CaseIterable {
        case sha512 = "rsa-sha2-512"
        case sha256 = "rsa-sha2-256"

        /// The ssh-agent sign-request flag that asks for this algorithm.
        var agentFlag: UInt32 { self == .sha512 ? AgentMessages.rsaSHA2_512 : AgentMessages.rsaSHA2_256 }
    }

    /// The same identity offered under `algorithm` (an RSA key's second chance).
    func offered(as algorithm: RSAAlgorithm) -> OfferedIdentity {
        var copy = self
        copy.rsaAlgorithm = algorithm
        return copy
    }

    /// `ssh-ed25519`, `ssh-rsa`, `ssh-ed25519-cert-v01@openssh.com` ….
    var type: String { SSHKeyReader.firstText(offeredBlob) ?? "unknown" }
    var isRSA: Bool { type == "ssh-rsa" }

    /// How the failure message lists it.
    var label: String {
        let name: String
        switch signer {
        case .agent: name = "\(type) from \(origin)"
        case .file(let file): name = certificatePath.map { "certificate \($0)" } ?? file.path
        }
        return rsaAlgorithm != .sha512 ? "\(name) as \(rsaAlgorithm.rawValue)" : name
    }

    /// The blob for `libssh2_userauth_publickey`: an RSA key's type string becomes `rsaAlgorithm`
    /// (never `ssh-rsa`, which is SHA-1).
    var requestBlob: [UInt8] {
        guard isRSA else { return offeredBlob }
        var reader = SSHKeyReader(offeredBlob)
        guard (try? reader.readString()) != nil, let e = try? reader.readMPInt(), let n = try? reader.readMPInt() else {
            return offeredBlob
        }
        return Self.rsaRequestBlob(e: e, n: n, algorithm: rsaAlgorithm)
    }

    /// `string "rsa-sha2-512" (or -256), mpint e, mpint n`.
    static func rsaRequestBlob(e: [UInt8], n: [UInt8], algorithm: RSAAlgorithm) -> [UInt8] {
        var writer = SSHKeyWriter()
        writer.appendString(algorithm.rawValue)
        writer.appendMPInt(e)
        writer.appendMPInt(n)
        return writer.bytes
    }
}
