/// The SSH wire encodings the client needs (RFC 4251 §5): `string` and `uint32`, big-endian.
struct SSHWire {
    private(set) var bytes: [UInt8] = []

    mutating func appendUInt32(_ value: UInt32) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
    }

    mutating func appendString(_ text: String) {
        appendUInt32(UInt32(text.utf8.count))
        bytes += Array(text.utf8)
    }

    /// Reads the `string` at `offset`, advancing it; nil if truncated.
    static func readString(_ blob: [UInt8], at offset: inout Int) -> [UInt8]? {
        guard let length = readUInt32(blob, at: &offset), blob.count - offset >= Int(length) else { return nil }
        defer { offset += Int(length) }
        return Array(blob[offset..<(offset + Int(length))])
    }

    static func readUInt32(_ blob: [UInt8], at offset: inout Int) -> UInt32? {
        guard offset >= 0, blob.count - offset >= 4 else { return nil }
        defer { offset += 4 }
        return blob[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }

    /// The first `string` of a key blob: its type name (`ssh-ed25519`, `ecdsa-sha2-nistp256` …).
    static func firstString(_ blob: [UInt8]) -> String? {
        var offset = 0
        return readString(blob, at: &offset).map { String(decoding: $0, as: UTF8.self) }
    }
}
