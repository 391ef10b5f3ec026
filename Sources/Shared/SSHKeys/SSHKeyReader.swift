/// Reads the SSH wire encodings (RFC 4251 §5: uint32, uint64, string, mpint) from a byte array, never past its
/// end: every read checks the length first and throws `truncated` instead of trapping.
public struct SSHKeyReader {
    public let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    /// Thrown by every read that would run past the end (callers turn it into an error naming the file).
    public struct Truncated: Error {}

    public var remaining: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset == bytes.count }

    public mutating func readBytes(_ count: Int) throws(Truncated) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw Truncated() }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    public mutating func readUInt32() throws(Truncated) -> UInt32 {
        try readBytes(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    public mutating func readUInt64() throws(Truncated) -> UInt64 {
        try readBytes(8).reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// A `string`: uint32 length, then that many bytes (the length is checked against what is left).
    public mutating func readString() throws(Truncated) -> [UInt8] {
        let length = try readUInt32()
        guard UInt64(length) <= UInt64(remaining) else { throw Truncated() }
        return try readBytes(Int(length))
    }

    public mutating func readText() throws(Truncated) -> String {
        String(decoding: try readString(), as: UTF8.self)
    }

    /// An `mpint` as its unsigned big-endian magnitude (leading zero bytes removed).
    public mutating func readMPInt() throws(Truncated) -> [UInt8] {
        Array(try readString().drop { $0 == 0 })
    }
}

/// Writes the SSH wire encodings.
public struct SSHKeyWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}

    public mutating func appendUInt32(_ value: UInt32) {
        bytes += [UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff), UInt8(value & 0xff)]
    }

    public mutating func appendString(_ data: [UInt8]) {
        appendUInt32(UInt32(data.count))
        bytes += data
    }

    public mutating func appendString(_ text: String) { appendString(Array(text.utf8)) }

    /// An unsigned magnitude as an `mpint` (a zero byte in front when the top bit is set, as RFC 4251 wants).
    public mutating func appendMPInt(_ magnitude: [UInt8]) {
        let trimmed = Array(magnitude.drop { $0 == 0 })
        appendString((trimmed.first ?? 0) & 0x80 != 0 ? [0] + trimmed : trimmed)
    }
}
