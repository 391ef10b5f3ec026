import Foundation

/// One line of a `.pub` file (or an authorized_keys-style line): `TYPE BASE64 [COMMENT]`.
public struct PublicKeyLine: Equatable, Sendable {
    public let type: String
    public let blob: [UInt8]
    public let comment: String

    /// Nil unless the line has a type, valid base64 whose first string is that type.
    public init?(_ text: String) {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
        guard fields.count >= 2, let data = Data(base64Encoded: String(fields[1])) else { return nil }
        var reader = SSHKeyReader(Array(data))
        guard let inner = try? reader.readText(), inner == String(fields[0]) else { return nil }
        type = inner
        blob = Array(data)
        comment = fields.dropFirst(2).joined(separator: " ")
    }

    /// Reads the first line of `path` (at most 64 KiB); nil when missing or not a public key.
    public static func read(_ path: String) -> PublicKeyLine? {
        guard let bytes = try? BoundedFile.read(path, limit: BoundedFile.keyFileLimit) else { return nil }
        return PublicKeyLine(String(decoding: bytes, as: UTF8.self))
    }
}

/// Reads a small file whole, refusing more than `limit` bytes (a key path pointing at a device or a huge file).
public enum BoundedFile {
    /// No SSH key or certificate file comes near this (an RSA 16384 private key is about 12 KiB).
    public static let keyFileLimit = 64 * 1024

    public static func read(_ path: String, limit: Int) throws(KeyFileError) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file"
            throw .unreadable(path: path, reason: reason)
        }
        defer { try? handle.close() }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw .unreadable(path: path, reason: "it is a directory")
        }
        let data: Data?
        do { data = try handle.read(upToCount: limit + 1) } catch { throw .unreadable(path: path, reason: "\(error)") }
        let bytes = Array(data ?? Data())
        guard bytes.count <= limit else { throw .tooLarge(path: path, limit: limit) }
        return bytes
    }
}
