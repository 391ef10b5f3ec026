import Foundation

/// What a private key file is, read without decrypting it: its key type and whether it needs a passphrase.
/// Understands OpenSSH's `openssh-key-v1` format (the public part is stored in clear) and PEM files.
struct IdentityFileInfo: Equatable {
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, … or nil when unknown.
    let keyType: String?
    let isEncrypted: Bool

    var isRSA: Bool { keyType == "ssh-rsa" }

    init(keyType: String?, isEncrypted: Bool) {
        self.keyType = keyType
        self.isEncrypted = isEncrypted
    }

    /// Parses the text of a private key file (`publicKeyLine` is the `.pub` file, used when the format is opaque).
    init(privateKeyText text: String, publicKeyLine: String? = nil) {
        let pubType = publicKeyLine?.split(separator: " ").first.map(String.init)
        if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
            let body = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
            if let data = Data(base64Encoded: body) {
                let parsed = Self.parseOpenSSH(Array(data))
                self.init(keyType: parsed.keyType ?? pubType, isEncrypted: parsed.encrypted)
                return
            }
            self.init(keyType: pubType, isEncrypted: false)
        } else if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
            self.init(keyType: "ssh-rsa", isEncrypted: text.contains("ENCRYPTED"))
        } else if text.contains("-----BEGIN EC PRIVATE KEY-----") {
            self.init(keyType: pubType ?? "ecdsa-sha2-nistp256", isEncrypted: text.contains("ENCRYPTED"))
        } else if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
            self.init(keyType: pubType, isEncrypted: true)
        } else {
            self.init(keyType: pubType, isEncrypted: false)
        }
    }

    /// Reads `path` (and `path.pub` if present); nil when the file cannot be read.
    static func read(_ path: String) -> IdentityFileInfo? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let pub = try? String(contentsOfFile: path + ".pub", encoding: .utf8)
        return IdentityFileInfo(privateKeyText: text, publicKeyLine: pub)
    }

    /// `"openssh-key-v1\0" string cipher, string kdf, string kdfoptions, uint32 n, string pubkey …`
    private static func parseOpenSSH(_ bytes: [UInt8]) -> (keyType: String?, encrypted: Bool) {
        let magic = Array("openssh-key-v1".utf8) + [0]
        guard bytes.starts(with: magic) else { return (nil, false) }
        var offset = magic.count
        guard let cipher = SSHWire.readString(bytes, at: &offset),
              SSHWire.readString(bytes, at: &offset) != nil,
              SSHWire.readString(bytes, at: &offset) != nil,
              let count = SSHWire.readUInt32(bytes, at: &offset), count >= 1,
              let publicKey = SSHWire.readString(bytes, at: &offset)
        else { return (nil, false) }
        return (SSHWire.firstString(publicKey), String(decoding: cipher, as: UTF8.self) != "none")
    }
}
