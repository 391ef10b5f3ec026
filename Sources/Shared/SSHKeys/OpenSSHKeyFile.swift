import Foundation

/// OpenSSH's private key format (PROTOCOL.key): `"openssh-key-v1\0" string cipher, string kdf, string kdfoptions,
/// uint32 count (1), string publickey, string private-section`; the private section (encrypted with
/// bcrypt_pbkdf-derived key and IV when cipher is not `none`) holds two equal check words, the key, a comment
/// and padding 1, 2, 3 ….
struct OpenSSHKeyFile {
    /// ssh-keygen's default is 16 and `-a 100` is common; far more is a file meant to hang the reader.
    static let maximumRounds: UInt32 = 10_000

    let path: String
    let cipher: String
    let kdf: String
    let salt: [UInt8]
    let rounds: UInt32
    let publicBlob: [UInt8]
    let privateSection: [UInt8]

    var isEncrypted: Bool { cipher != "none" }

    init(path: String, armored text: String) throws(KeyFileError) {
        self.path = path
        let lines = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let begin = lines.firstIndex(of: "-----BEGIN OPENSSH PRIVATE KEY-----") else { throw .notAKey(path: path) }
        guard let end = lines[begin...].firstIndex(of: "-----END OPENSSH PRIVATE KEY-----") else {
            throw .malformed(path: path, reason: "no END OPENSSH PRIVATE KEY line: the file is cut short")
        }
        guard let data = Data(base64Encoded: lines[(begin + 1)..<end].joined()) else {
            throw .malformed(path: path, reason: "invalid base64 between the BEGIN and END lines")
        }
        var reader = SSHKeyReader(Array(data))
        let magic = Array("openssh-key-v1".utf8) + [0]
        guard (try? reader.readBytes(magic.count)) == magic else {
            throw .malformed(path: path, reason: "no openssh-key-v1 magic")
        }
        do {
            cipher = try reader.readText()
            kdf = try reader.readText()
            var options = SSHKeyReader(try reader.readString())
            let count = try reader.readUInt32()
            guard count == 1 else { throw KeyFileError.malformed(path: path, reason: "it holds \(count) keys instead of 1") }
            publicBlob = try reader.readString()
            privateSection = try reader.readString()
            switch kdf {
            case "none":
                guard cipher == "none" else { throw KeyFileError.malformed(path: path, reason: "cipher \(cipher) without a key derivation") }
                salt = []
                rounds = 0
            case "bcrypt":
                salt = try options.readString()
                rounds = try options.readUInt32()
            default:
                throw KeyFileError.unsupportedKDF(path: path, kdf: kdf)
            }
        } catch let error as KeyFileError {
            throw error
        } catch {
            throw .malformed(path: path, reason: "a length runs past the end of the key")
        }
        if isEncrypted {
            guard KeyCrypto.openSSHCipher(cipher) != nil else { throw .unsupportedCipher(path: path, cipher: cipher) }
            guard rounds >= 1, rounds <= Self.maximumRounds else { throw .roundsOutOfRange(path: path, rounds: rounds) }
            guard !salt.isEmpty, salt.count <= 1024 else { throw .malformed(path: path, reason: "a bcrypt salt of \(salt.count) bytes") }
        }
        guard SSHKeyReader.firstText(publicBlob) != nil else { throw .malformed(path: path, reason: "an empty public key") }
    }

    func decode(passphrase: [UInt8]?) throws(KeyFileError) -> DecodedPrivateKey {
        var plain = privateSection
        let blockSize: Int
        if isEncrypted {
            guard let passphrase, !passphrase.isEmpty else { throw .passphraseRequired(path: path) }
            guard let spec = KeyCrypto.openSSHCipher(cipher) else { throw .unsupportedCipher(path: path, cipher: cipher) }
            blockSize = spec.blockSize
            guard plain.count % blockSize == 0 else {
                throw .malformed(path: path, reason: "its private part is not a whole number of cipher blocks")
            }
            let material: [UInt8]
            do {
                material = try BCryptPBKDF.derive(passphrase: passphrase, salt: salt, rounds: Int(rounds),
                                                  keyLength: spec.keyLength + spec.ivLength)
            } catch {
                throw .malformed(path: path, reason: "bcrypt parameters OpenBSD would refuse")
            }
            guard let decrypted = KeyCrypto.decrypt(plain, cipher: spec.cipher, key: Array(material.prefix(spec.keyLength)),
                                                    iv: Array(material.suffix(spec.ivLength)))
            else { throw .malformed(path: path, reason: "libcrypto could not decrypt it") }
            plain = decrypted
        } else {
            blockSize = 8
            guard plain.count % blockSize == 0 else {
                throw .malformed(path: path, reason: "its private part is not a multiple of 8 bytes")
            }
        }
        var reader = SSHKeyReader(plain)
        do {
            let check1 = try reader.readUInt32()
            let check2 = try reader.readUInt32()
            guard check1 == check2 else {
                if isEncrypted { throw KeyFileError.wrongPassphrase(path: path) }
                throw KeyFileError.malformed(path: path, reason: "its check words differ")
            }
            let key = try decodeKey(&reader)
            let padding = try reader.readBytes(reader.remaining)
            guard padding.count < blockSize, padding.enumerated().allSatisfy({ $0.element == UInt8($0.offset + 1) }) else {
                throw KeyFileError.malformed(path: path, reason: "bad padding after the key")
            }
            return key
        } catch let error as KeyFileError {
            throw error
        } catch {
            throw .malformed(path: path, reason: "a length in its private part runs past the end")
        }
    }

    private func decodeKey(_ reader: inout SSHKeyReader) throws -> DecodedPrivateKey {
        let type = try reader.readText()
        let derivedBlob: [UInt8]
        var rsa: KeyCrypto.RSAKey?
        var writer = SSHKeyWriter()
        writer.appendString(type)
        switch type {
        case "ssh-rsa":
            let n = try reader.readMPInt(), e = try reader.readMPInt(), d = try reader.readMPInt()
            let iqmp = try reader.readMPInt(), p = try reader.readMPInt(), q = try reader.readMPInt()
            guard n.count >= 128 else { throw KeyFileError.unsupportedKeyType(path: path, keyType: "RSA key of \(n.count * 8) bits (under 1024)") }
            guard let key = KeyCrypto.rsaKey(n: n, e: e, d: d, iqmp: iqmp, p: p, q: q) else {
                throw KeyFileError.malformed(path: path, reason: "libcrypto refused its RSA numbers")
            }
            rsa = key
            derivedBlob = DecodedPrivateKey.rsaBlob(e: e, n: n)
        case "ssh-ed25519":
            let publicKey = try reader.readString()
            let secret = try reader.readString()
            guard publicKey.count == 32, secret.count == 64, Array(secret.suffix(32)) == publicKey else {
                throw KeyFileError.malformed(path: path, reason: "ed25519 key of the wrong size")
            }
            writer.appendString(publicKey)
            derivedBlob = writer.bytes
        case "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521":
            let curve = try reader.readText()
            let point = try reader.readString()
            _ = try reader.readMPInt()
            guard "ecdsa-sha2-" + curve == type else { throw KeyFileError.malformed(path: path, reason: "curve \(curve) in a \(type) key") }
            writer.appendString(curve)
            writer.appendString(point)
            derivedBlob = writer.bytes
        default:
            throw KeyFileError.unsupportedKeyType(path: path, keyType: type)
        }
        let comment = try reader.readText()
        guard derivedBlob == publicBlob else {
            throw KeyFileError.malformed(path: path, reason: "its private key does not match its public key")
        }
        return DecodedPrivateKey(keyType: type, publicBlob: derivedBlob, comment: comment, rsa: rsa)
    }
}
