import Foundation

/// One known_hosts line, read as bytes (hostfile.c's order): leading blanks skipped; empty and `#` lines hold
/// nothing; an optional marker; then host field, key type and base64 key separated by blanks, the rest a comment.
/// A line is an entry only when every one of those parts is well formed, the key included (it decodes to an SSH
/// key blob of the named type); anything else is `unreadable` with the first problem found.
public enum KnownHostsLine: Equatable {
    case nothing
    case entry(marker: KnownHostsFile.Entry.Marker?, hosts: KnownHostsHostField, keyType: String, keyBlob: [UInt8])
    case unreadable(Problem)

    public enum Problem: Sendable, Equatable, CustomStringConvertible {
        case tooLong(bytes: Int)
        case unknownMarker
        case missingFields
        case nulByte
        case badHostField
        case badKeyType
        case badBase64
        case keyDoesNotMatchType

        public var description: String {
            switch self {
            case .tooLong(let bytes): return "the line is \(bytes) bytes long, more than \(KnownHostsFile.maximumLineBytes)"
            case .unknownMarker: return "it starts with a marker other than @cert-authority or @revoked"
            case .missingFields: return "it does not hold a host name, a key type and a key"
            case .nulByte: return "it holds a NUL byte before the end of the key"
            case .badHostField: return "its host field is not a valid name list or |1|salt|hash"
            case .badKeyType: return "its key type is not a key type name"
            case .badBase64: return "its key is not valid base64"
            case .keyDoesNotMatchType: return "its key is truncated or not of the type the line names"
            }
        }
    }

    static let space = UInt8(ascii: " "), tab = UInt8(ascii: "\t")

    public static func parse<Line: Collection>(_ line: Line) -> KnownHostsLine where Line.Element == UInt8, Line.Index == Int {
        guard line.count <= KnownHostsFile.maximumLineBytes else {
            // Not copied: a long comment holds nothing, anything else long is skipped.
            let start = line.firstIndex { $0 != space && $0 != tab }
            return start.map { line[$0] == UInt8(ascii: "#") } ?? true ? .nothing : .unreadable(.tooLong(bytes: line.count))
        }
        var fields = Fields(line)
        guard let first = fields.peek(), first.first != UInt8(ascii: "#") else { return .nothing }
        var marker: KnownHostsFile.Entry.Marker?
        if first.first == UInt8(ascii: "@") {
            guard let known = KnownHostsFile.Entry.Marker(rawValue: String(decoding: first, as: UTF8.self)) else {
                return .unreadable(.unknownMarker)
            }
            marker = known
            _ = fields.next()
        }
        guard let hostBytes = fields.next(), let typeBytes = fields.next(), let keyBytes = fields.next() else {
            return .unreadable(.missingFields)
        }
        guard !(hostBytes + typeBytes + keyBytes).contains(0) else { return .unreadable(.nulByte) }
        guard let hosts = KnownHostsHostField(hostBytes) else { return .unreadable(.badHostField) }
        guard let keyType = keyTypeName(typeBytes) else { return .unreadable(.badKeyType) }
        guard let blob = decodeBase64(keyBytes) else { return .unreadable(.badBase64) }
        guard SSHKeyBlob.type(of: blob) == keyType else { return .unreadable(.keyDoesNotMatchType) }
        return .entry(marker: marker, hosts: hosts, keyType: keyType, keyBlob: blob)
    }

    /// Letters, digits and `-._@` only (`ssh-ed25519`, `sk-ssh-ed25519@openssh.com`), at most 64 bytes.
    static func keyTypeName(_ bytes: [UInt8]) -> String? {
        guard !bytes.isEmpty, bytes.count <= 64, bytes.allSatisfy({ byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "@")
        }) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Standard base64, padding optional (as OpenSSH's decoder takes it); nil for any other byte.
    static func decodeBase64(_ bytes: [UInt8]) -> [UInt8]? {
        guard !bytes.isEmpty, bytes.count % 4 != 1 else { return nil }
        let padded = bytes + [UInt8](repeating: UInt8(ascii: "="), count: (4 - bytes.count % 4) % 4)
        guard let data = Data(base64Encoded: Data(padded)) else { return nil }
        return Array(data)
    }

    /// The blank-separated fields of a line, in order.
    struct Fields {
        private let bytes: [UInt8]
        private var offset = 0

        init<Line: Collection>(_ line: Line) where Line.Element == UInt8 { bytes = Array(line) }

        func peek() -> [UInt8]? { var copy = self; return copy.next() }

        mutating func next() -> [UInt8]? {
            while offset < bytes.count, bytes[offset] == space || bytes[offset] == tab { offset += 1 }
            guard offset < bytes.count else { return nil }
            let start = offset
            while offset < bytes.count, bytes[offset] != space, bytes[offset] != tab { offset += 1 }
            return Array(bytes[start..<offset])
        }
    }
}

/// The SSH wire form of a public key: a type name string followed by the key's own strings, nothing left over.
enum SSHKeyBlob {
    /// The type name, when `blob` is a complete sequence of at least two length-prefixed strings.
    static func type(of blob: [UInt8]) -> String? {
        var offset = 0
        var strings: [ArraySlice<UInt8>] = []
        while offset < blob.count {
            guard blob.count - offset >= 4 else { return nil }
            let length = blob[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            offset += 4
            guard length <= blob.count - offset else { return nil }
            strings.append(blob[offset..<offset + length])
            offset += length
        }
        guard strings.count >= 2, let name = strings.first else { return nil }
        return KnownHostsLine.keyTypeName(Array(name))
    }
}
