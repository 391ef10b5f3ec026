/// Why a key or certificate file cannot be used. Each case names the file and says what to do.
public enum KeyFileError: Error, Equatable, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case tooLarge(path: String, limit: Int)
    case notAKey(path: String)
    case malformed(path: String, reason: String)
    case unsupportedCipher(path: String, cipher: String)
    case unsupportedKDF(path: String, kdf: String)
    case roundsOutOfRange(path: String, rounds: UInt32)
    case unsupportedKeyType(path: String, keyType: String)
    /// The passphrase does not decrypt the file (check bytes differ, or libcrypto refused the PEM).
    case wrongPassphrase(path: String)
    case passphraseRequired(path: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            return "cannot read key file \(path): \(reason); check the IdentityFile/CertificateFile path and its permissions"
        case .tooLarge(let path, let limit):
            return "key file \(path) is larger than \(limit) bytes, which no SSH key is; check the IdentityFile/CertificateFile path"
        case .notAKey(let path):
            return "\(path) is not an SSH private key (no OpenSSH or PEM private key block); check the IdentityFile path"
        case .malformed(let path, let reason):
            return "key file \(path) is damaged (\(reason)); restore it from a backup or create a new key with ssh-keygen"
        case .unsupportedCipher(let path, let cipher):
            return "key file \(path) is encrypted with \(cipher), which ftptunnel cannot decrypt; re-encrypt it with `ssh-keygen -p -Z aes256-ctr -f \(path)`"
        case .unsupportedKDF(let path, let kdf):
            return "key file \(path) uses the key derivation \(kdf), which ftptunnel does not know; re-encrypt it with `ssh-keygen -p -f \(path)`"
        case .roundsOutOfRange(let path, let rounds):
            return "key file \(path) asks for \(rounds) bcrypt rounds (at most \(OpenSSHKeyFile.maximumRounds) are accepted); re-encrypt it with `ssh-keygen -p -a 100 -f \(path)`"
        case .unsupportedKeyType(let path, let keyType):
            return "key file \(path) holds a \(keyType) key, which ftptunnel cannot use; use an ed25519, ECDSA or RSA key"
        case .wrongPassphrase(let path):
            return "wrong passphrase for \(path)"
        case .passphraseRequired(let path):
            return "key file \(path) is encrypted and no passphrase was given"
        }
    }
}
