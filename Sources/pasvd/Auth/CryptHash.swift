import CCrypt
import FTPServerKit
import Foundation
import Posix

/// crypt(3) through libcrypt: verifies `$y$` (yescrypt), `$6$` (sha512-crypt) and the other modern
/// formats libcrypt supports, and makes new yescrypt hashes. The only file that imports CCrypt.
enum CryptHash {
    /// Prefix of newly generated hashes (yescrypt, the Debian default).
    static let newHashPrefix = "$y$"

    /// True when `hash` is a crypt(3) setting libcrypt accepts and considers current (no DES, no legacy).
    static func isSupported(_ hash: String) -> Bool {
        hash.hasPrefix("$") && crypt_checksalt(hash) == CRYPT_SALT_OK
    }

    /// Checks `password` against `hash` in constant time with respect to the hash contents.
    static func verify(password: String, hash: String) -> Bool {
        guard let computed = compute(password: password, setting: hash) else { return false }
        let a = Array(computed.utf8), b = Array(hash.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// A new yescrypt hash of `password` with a random salt.
    static func make(password: String) throws(CryptError) -> String {
        var setting = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        guard crypt_gensalt_rn(newHashPrefix, 0, nil, 0, &setting, Int32(setting.count)) != nil else {
            throw .gensaltFailed(PosixError.lastCode())
        }
        let settingText = String(decoding: setting.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let hash = compute(password: password, setting: settingText) else { throw .hashFailed }
        return hash
    }

    private static func compute(password: String, setting: String) -> String? {
        let size = MemoryLayout<crypt_data>.size
        let data = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: MemoryLayout<crypt_data>.alignment)
        data.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        defer {
            data.initializeMemory(as: UInt8.self, repeating: 0, count: size)  // scrub the password copy
            data.deallocate()
        }
        guard let result = crypt_rn(password, setting, data, Int32(size)) else { return nil }
        let text = String(cString: result)
        return text.hasPrefix("*") ? nil : text  // "*0"/"*1" mark failure in some libcrypt modes
    }
}

enum CryptError: Error, CustomStringConvertible {
    case gensaltFailed(Int32)
    case hashFailed
    var description: String {
        switch self {
        case .gensaltFailed(let code): return "cannot generate a salt: \(PosixError.reason(for: code))"
        case .hashFailed: return "libcrypt could not hash the password"
        }
    }
}
