import Foundation

/// A private key file as found on disk, read without its passphrase: OpenSSH's `openssh-key-v1` format (public
/// key in clear) or PEM (PKCS#1 `RSA PRIVATE KEY`, PKCS#8 `PRIVATE KEY`/`ENCRYPTED PRIVATE KEY`, SEC1
/// `EC PRIVATE KEY`, legacy `Proc-Type: 4,ENCRYPTED`). `decode` needs the passphrase when `isEncrypted`.
public struct PrivateKeyFile: Sendable {
    public enum Format: Sendable { case openSSH, pem }

    public let path: String
    public let format: Format
    public let isEncrypted: Bool
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa` …: known without the passphrase for openssh-key-v1 files
    /// and unencrypted PEM ones; from `path.pub` otherwise (nil when that is missing too).
    public let keyType: String?
    /// The public key blob, when known without the passphrase (same sources as `keyType`).
    public let publicBlob: [UInt8]?
    private let contents: [UInt8]

    public var isRSA: Bool { keyType == "ssh-rsa" }

    /// Reads and inspects `path` (at most 64 KiB).
    public static func load(_ path: String) throws(KeyFileError) -> PrivateKeyFile {
        try PrivateKeyFile(path: path, contents: BoundedFile.read(path, limit: BoundedFile.keyFileLimit),
                           publicLine: PublicKeyLine.read(path + ".pub"))
    }

    public init(path: String, contents: [UInt8], publicLine: PublicKeyLine? = nil) throws(KeyFileError) {
        self.path = path
        self.contents = contents
        let text = String(decoding: contents, as: UTF8.self)
        if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") {
            let file = try OpenSSHKeyFile(path: path, armored: text)
            format = .openSSH
            isEncrypted = file.isEncrypted
            keyType = SSHKeyReader.firstText(file.publicBlob)
            publicBlob = file.publicBlob
            return
        }
        guard PEMBlock.isPrivateKey(text) else { throw .notAKey(path: path) }
        format = .pem
        isEncrypted = PEMBlock.isEncrypted(text)
        if !isEncrypted, let decoded = try? PEMBlock.decode(path: path, contents: contents, passphrase: nil) {
            keyType = decoded.keyType
            publicBlob = decoded.publicBlob
        } else if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
            keyType = "ssh-rsa"
            publicBlob = publicLine?.type == "ssh-rsa" ? publicLine?.blob : nil
        } else {
            keyType = publicLine?.type
            publicBlob = publicLine?.blob
        }
    }

    /// Decrypts (when encrypted) and decodes the private key. RSA keys come back ready to sign; for other types
    /// the public key and comment only (libssh2 signs with those files itself).
    public func decode(passphrase: [UInt8]?) throws(KeyFileError) -> DecodedPrivateKey {
        if isEncrypted && (passphrase ?? []).isEmpty { throw .passphraseRequired(path: path) }
        switch format {
        case .openSSH:
            return try OpenSSHKeyFile(path: path, armored: String(decoding: contents, as: UTF8.self))
                .decode(passphrase: isEncrypted ? passphrase : nil)
        case .pem:
            return try PEMBlock.decode(path: path, contents: contents, passphrase: isEncrypted ? passphrase : nil)
        }
    }
}

/// A private key after decoding: its public half, and for RSA the key that signs.
public struct DecodedPrivateKey: Sendable {
    public let keyType: String
    public let publicBlob: [UInt8]
    public let comment: String
    public let rsa: KeyCrypto.RSAKey?

    /// The public blob of an RSA key: `string "ssh-rsa", mpint e, mpint n`.
    static func rsaBlob(e: [UInt8], n: [UInt8], type: String = "ssh-rsa") -> [UInt8] {
        var writer = SSHKeyWriter()
        writer.appendString(type)
        writer.appendMPInt(e)
        writer.appendMPInt(n)
        return writer.bytes
    }
}

/// PEM private keys, decoded by libcrypto (`KeyCrypto.decodePEM`).
enum PEMBlock {
    static let privateKeyHeaders = ["-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----",
                                    "-----BEGIN ENCRYPTED PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----"]

    static func isPrivateKey(_ text: String) -> Bool { privateKeyHeaders.contains { text.contains($0) } }

    static func isEncrypted(_ text: String) -> Bool {
        text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || text.contains("Proc-Type: 4,ENCRYPTED")
    }

    static func decode(path: String, contents: [UInt8], passphrase: [UInt8]?) throws(KeyFileError) -> DecodedPrivateKey {
        guard let key = KeyCrypto.decodePEM(contents, passphrase: passphrase) else {
            if passphrase != nil { throw .wrongPassphrase(path: path) }
            throw .malformed(path: path, reason: "libcrypto cannot decode its PEM block")
        }
        switch key {
        case .rsa(let rsa):
            let numbers = rsa.publicNumbers
            return DecodedPrivateKey(keyType: "ssh-rsa", publicBlob: DecodedPrivateKey.rsaBlob(e: numbers.e, n: numbers.n),
                                     comment: "", rsa: rsa)
        case .other(let name):
            throw .unsupportedKeyType(path: path, keyType: "PEM \(name)")
        }
    }
}

extension SSHKeyReader {
    /// The first string of a blob as text (a key or certificate blob's type), nil if truncated.
    public static func firstText(_ blob: [UInt8]) -> String? {
        var reader = SSHKeyReader(blob)
        return try? reader.readText()
    }
}
