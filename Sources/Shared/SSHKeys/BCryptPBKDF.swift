/// OpenBSD's bcrypt_pbkdf (lib/libutil/bcrypt_pbkdf.c), the key derivation of passphrase-protected
/// `openssh-key-v1` files: PBKDF2-like rounds over a bcrypt-based hash, output bytes spread over the blocks.
public enum BCryptPBKDF {
    public enum Failure: Error, Equatable {
        /// OpenBSD refuses the same inputs: no rounds, empty passphrase or salt, or an impossible key length.
        case invalidParameters
    }

    private static let hashSize = 32
    private static let magic = Array("OxychromaticBlowfishSwatDynamite".utf8)

    public static func derive(passphrase: [UInt8], salt: [UInt8], rounds: Int, keyLength: Int) throws(Failure) -> [UInt8] {
        guard rounds >= 1, !passphrase.isEmpty, !salt.isEmpty, keyLength > 0, keyLength <= hashSize * hashSize else {
            throw .invalidParameters
        }
        let stride = (keyLength + hashSize - 1) / hashSize
        let amount = (keyLength + stride - 1) / stride
        let sha2pass = KeyCrypto.sha512(passphrase)
        var key = [UInt8](repeating: 0, count: keyLength)
        var left = keyLength
        var count: UInt32 = 1
        while left > 0 {
            let countBytes = [UInt8(count >> 24), UInt8((count >> 16) & 0xff), UInt8((count >> 8) & 0xff), UInt8(count & 0xff)]
            var block = hash(sha2pass: sha2pass, sha2salt: KeyCrypto.sha512(salt + countBytes))
            var output = block
            for _ in 1..<rounds {
                block = hash(sha2pass: sha2pass, sha2salt: KeyCrypto.sha512(block))
                for index in 0..<hashSize { output[index] ^= block[index] }
            }
            var written = 0
            for index in 0..<min(amount, left) {
                let destination = index * stride + Int(count - 1)
                if destination >= keyLength { break }
                key[destination] = output[index]
                written += 1
            }
            left -= written
            count += 1
        }
        return key
    }

    /// bcrypt_hash: an expensive Blowfish key schedule over both hashes, then 64 encryptions of the magic text.
    private static func hash(sha2pass: [UInt8], sha2salt: [UInt8]) -> [UInt8] {
        var cipher = Blowfish()
        cipher.expand(salt: sha2salt, key: sha2pass)
        for _ in 0..<64 {
            cipher.expand(salt: [], key: sha2salt)
            cipher.expand(salt: [], key: sha2pass)
        }
        var words = (0..<8).map { index in
            magic[(index * 4)..<(index * 4 + 4)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        }
        for _ in 0..<64 {
            for block in stride(from: 0, to: 8, by: 2) {
                var (left, right) = (words[block], words[block + 1])
                cipher.encipher(&left, &right)
                (words[block], words[block + 1]) = (left, right)
            }
        }
        // Little-endian out, as OpenBSD writes it.
        return words.flatMap { [UInt8($0 & 0xff), UInt8(($0 >> 8) & 0xff), UInt8(($0 >> 16) & 0xff), UInt8($0 >> 24)] }
    }
}
