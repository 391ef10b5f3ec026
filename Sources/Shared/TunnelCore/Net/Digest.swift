import Foundation
import COpenSSL
import Posix

/// The hashes the product needs (SHA-256 fingerprints and file checks, HMAC-SHA1 for hashed known_hosts),
/// computed by OpenSSL's libcrypto. The only file of TunnelCore that imports COpenSSL (SSHKeys has KeyCrypto).
public enum Digest {
    public static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        bytes.withUnsafeBufferPointer { input in
            _ = SHA256(input.baseAddress, input.count, &out)
        }
        return out
    }

    public static func hmacSHA1(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        key.withUnsafeBufferPointer { k in
            message.withUnsafeBufferPointer { m in
                _ = HMAC(EVP_sha1(), k.baseAddress, Int32(k.count), m.baseAddress, m.count, &out, &length)
            }
        }
        return Array(out.prefix(Int(length)))
    }

    /// Streams a file through SHA-256 and returns the lowercase hex digest.
    public static func sha256Hex(ofFileAt path: String) throws -> String {
        guard let file = try? PosixFile.open(path, flags: O_RDONLY) else { throw DigestError.cannotOpen(path: path) }
        defer { PosixDescriptor.close(file) }
        guard let context = EVP_MD_CTX_new() else { throw DigestError.cannotOpen(path: path) }
        defer { EVP_MD_CTX_free(context) }
        EVP_DigestInit_ex(context, EVP_sha256(), nil)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = (try? buffer.withUnsafeMutableBytes { raw throws(PosixError) in try PosixFile.read(file, into: raw) }) ?? 0
            if n > 0 { EVP_DigestUpdate(context, buffer, n) }
            if n == 0 { break }
        }
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &out, &length)
        return out.prefix(Int(length)).map { String(format: "%02x", $0) }.joined()
    }
}

public enum DigestError: Error, CustomStringConvertible {
    case cannotOpen(path: String)
    public var description: String { "cannot read \(path) to hash it" }
    private var path: String { if case .cannotOpen(let p) = self { return p }; return "" }
}
