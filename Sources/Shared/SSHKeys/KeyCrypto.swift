import COpenSSL
import Foundation

/// The one place SSHKeys calls libcrypto: SHA-512, Blowfish's block function (for bcrypt_pbkdf), AES decryption of
/// key files, PEM decoding, RSA keys built from their numbers and RSASSA-PKCS1-v1_5 signatures with SHA-256/SHA-512.
/// Never SHA-1.
public enum KeyCrypto {
    public static func sha512(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(SHA512_DIGEST_LENGTH))
        bytes.withUnsafeBufferPointer { input in _ = SHA512(input.baseAddress, input.count, &out) }
        return out
    }

    /// Blowfish's state (P-array and S-boxes, which bcrypt's key schedule rewrites) and libcrypto's block function
    /// over it: the 16-round encipherment bcrypt_pbkdf spends its time in.
    struct BlowfishState {
        private var key = BF_KEY()
        static let wordCount = 18 + 1024

        init(p: [UInt32], s: [UInt32]) {
            precondition(p.count == 18 && s.count == 1024)
            withWords { words in
                for index in 0..<18 { words[index] = p[index] }
                for index in 0..<1024 { words[18 + index] = s[index] }
            }
        }

        /// P[0...17] then S[0...1023], as one run of words (BF_KEY's layout).
        mutating func withWords<R>(_ body: (UnsafeMutablePointer<UInt32>) -> R) -> R {
            withUnsafeMutableBytes(of: &key) { body($0.baseAddress!.assumingMemoryBound(to: UInt32.self)) }
        }

        /// One block: (left, right) → (right', left') exactly as OpenBSD's Blowfish_encipher.
        mutating func encipher(_ left: inout UInt32, _ right: inout UInt32) {
            var block: (CUnsignedInt, CUnsignedInt) = (left, right)
            withUnsafeMutableBytes(of: &block) { data in
                BF_encrypt(data.baseAddress!.assumingMemoryBound(to: CUnsignedInt.self), &key)
            }
            (left, right) = block
        }
    }

    /// Ciphers of `openssh-key-v1` files: name → (libcrypto cipher, key length, IV length, block size).
    static func openSSHCipher(_ name: String) -> (cipher: OpaquePointer, keyLength: Int, ivLength: Int, blockSize: Int)? {
        switch name {
        case "aes256-ctr": return (EVP_aes_256_ctr(), 32, 16, 16)
        case "aes192-ctr": return (EVP_aes_192_ctr(), 24, 16, 16)
        case "aes128-ctr": return (EVP_aes_128_ctr(), 16, 16, 16)
        case "aes256-cbc": return (EVP_aes_256_cbc(), 32, 16, 16)
        case "aes128-cbc": return (EVP_aes_128_cbc(), 16, 16, 16)
        default: return nil
        }
    }

    /// Decrypts `data` (a whole number of blocks, no padding) with one of `openSSHCipher`'s ciphers.
    static func decrypt(_ data: [UInt8], cipher: OpaquePointer, key: [UInt8], iv: [UInt8]) -> [UInt8]? {
        guard let context = EVP_CIPHER_CTX_new() else { return nil }
        defer { EVP_CIPHER_CTX_free(context) }
        guard EVP_DecryptInit_ex(context, cipher, nil, key, iv) == 1, EVP_CIPHER_CTX_set_padding(context, 0) == 1 else { return nil }
        var out = [UInt8](repeating: 0, count: data.count + 32)
        var length: Int32 = 0
        var final: Int32 = 0
        let ok = data.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                EVP_DecryptUpdate(context, output.baseAddress, &length, input.baseAddress, Int32(input.count)) == 1
                    && EVP_DecryptFinal_ex(context, output.baseAddress! + Int(length), &final) == 1
            }
        }
        return ok ? Array(out.prefix(Int(length + final))) : nil
    }

    /// An RSA private key held by libcrypto (freed with this value).
    public final class RSAKey: @unchecked Sendable {
        fileprivate let key: OpaquePointer
        fileprivate init(_ key: OpaquePointer) { self.key = key }
        deinit { EVP_PKEY_free(key) }

        /// The public exponent and modulus, unsigned big-endian.
        public var publicNumbers: (e: [UInt8], n: [UInt8]) { (number("e"), number("n")) }

        /// Size of the modulus in bits.
        public var bits: Int { Int(EVP_PKEY_get_bits(key)) }

        private func number(_ name: String) -> [UInt8] {
            var value: OpaquePointer?
            guard EVP_PKEY_get_bn_param(key, name, &value) == 1, let value else { return [] }
            defer { BN_free(value) }
            var out = [UInt8](repeating: 0, count: Int((BN_num_bits(value) + 7) / 8))
            _ = BN_bn2bin(value, &out)
            return out
        }

        /// RSASSA-PKCS1-v1_5 signature of `data` with SHA-512 (`sha512`) or SHA-256.
        public func sign(_ data: [UInt8], sha512: Bool) -> [UInt8]? {
            guard let context = EVP_MD_CTX_new() else { return nil }
            defer { EVP_MD_CTX_free(context) }
            guard EVP_DigestSignInit(context, nil, sha512 ? EVP_sha512() : EVP_sha256(), nil, key) == 1 else {
                ERR_clear_error()
                return nil
            }
            var length = 0
            guard EVP_DigestSign(context, nil, &length, data, data.count) == 1 else { ERR_clear_error(); return nil }
            var signature = [UInt8](repeating: 0, count: length)
            guard EVP_DigestSign(context, &signature, &length, data, data.count) == 1 else { ERR_clear_error(); return nil }
            return Array(signature.prefix(length))
        }
    }

    /// Builds an RSA key from the numbers an `openssh-key-v1` file stores (CRT exponents derived from d, p, q).
    static func rsaKey(n: [UInt8], e: [UInt8], d: [UInt8], iqmp: [UInt8], p: [UInt8], q: [UInt8]) -> RSAKey? {
        guard let context = BN_CTX_new() else { return nil }
        defer { BN_CTX_free(context) }
        func bignum(_ bytes: [UInt8]) -> OpaquePointer? { BN_bin2bn(bytes, Int32(bytes.count), nil) }
        let numbers = [n, e, d, p, q, iqmp].map(bignum)
        defer { numbers.forEach { BN_clear_free($0) } }
        guard numbers.allSatisfy({ $0 != nil }), let one = BN_value_one() else { return nil }
        let (bn, be, bd, bp, bq, biqmp) = (numbers[0]!, numbers[1]!, numbers[2]!, numbers[3]!, numbers[4]!, numbers[5]!)
        guard let pMinus1 = BN_new(), let qMinus1 = BN_new(), let dmp1 = BN_new(), let dmq1 = BN_new() else { return nil }
        defer { [pMinus1, qMinus1, dmp1, dmq1].forEach { BN_clear_free($0) } }
        guard BN_sub(pMinus1, bp, one) == 1, BN_sub(qMinus1, bq, one) == 1,
              BN_div(nil, dmp1, bd, pMinus1, context) == 1, BN_div(nil, dmq1, bd, qMinus1, context) == 1,
              let builder = OSSL_PARAM_BLD_new()
        else { return nil }
        defer { OSSL_PARAM_BLD_free(builder) }
        // OSSL_PKEY_PARAM_RSA_* names (the numbered ones are macro concatenations Swift cannot import).
        let pushes: [(String, OpaquePointer)] = [
            ("n", bn), ("e", be), ("d", bd), ("rsa-factor1", bp), ("rsa-factor2", bq),
            ("rsa-exponent1", dmp1), ("rsa-exponent2", dmq1), ("rsa-coefficient1", biqmp),
        ]
        // The builder keeps the name pointers until the parameters are freed: C strings that live that long.
        let names = pushes.map { strdup($0.0) }
        defer { names.forEach { free($0) } }
        for (index, push) in pushes.enumerated() where OSSL_PARAM_BLD_push_BN(builder, names[index], push.1) != 1 { return nil }
        guard let params = OSSL_PARAM_BLD_to_param(builder) else { return nil }
        defer { OSSL_PARAM_free(params) }
        guard let keyContext = EVP_PKEY_CTX_new_from_name(nil, "RSA", nil) else { return nil }
        defer { EVP_PKEY_CTX_free(keyContext) }
        var key: OpaquePointer?
        guard EVP_PKEY_fromdata_init(keyContext) == 1,
              EVP_PKEY_fromdata(keyContext, &key, Self.keyPairSelection, params) == 1, let key
        else { ERR_clear_error(); return nil }
        return RSAKey(key)
    }

    /// EVP_PKEY_KEYPAIR (a macro of macros): domain and other parameters, public and private key.
    private static let keyPairSelection: Int32 = 0x87

    /// What a PEM private key file holds once libcrypto decoded it.
    enum PEMKey {
        case rsa(RSAKey)
        /// Another key type (ed25519, ECDSA …), by libcrypto's name for it.
        case other(String)
    }

    /// Decodes a PEM private key (PKCS#1, PKCS#8, SEC1; encrypted ones with `passphrase`). Nil when libcrypto
    /// cannot: a wrong passphrase, a damaged file, or a passphrase needed and none given (never asks itself).
    static func decodePEM(_ text: [UInt8], passphrase: [UInt8]?) -> PEMKey? {
        defer { ERR_clear_error() }
        guard let bio = text.withUnsafeBytes({ BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }) else { return nil }
        defer { BIO_free(bio) }
        // libcrypto would read a passphrase from the terminal without a callback: this one answers only with ours.
        var secret = (passphrase ?? []) + [0]
        defer { for index in secret.indices { secret[index] = 0 } }
        let key: OpaquePointer? = secret.withUnsafeMutableBytes { secretBytes in
            PEM_read_bio_PrivateKey(bio, nil, { buffer, size, _, user in
                guard let buffer, let user else { return -1 }
                let text = user.assumingMemoryBound(to: CChar.self)
                let length = strlen(text)
                guard length > 0, length <= Int(size) else { return -1 }
                memcpy(buffer, text, length)
                return Int32(length)
            }, passphrase == nil ? nil : secretBytes.baseAddress)
        }
        guard let key else { return nil }
        if EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA { return .rsa(RSAKey(key)) }
        let name = EVP_PKEY_get0_type_name(key).map { String(cString: $0) } ?? "unknown"
        EVP_PKEY_free(key)
        return .other(name)
    }
}
