import Foundation

/// A parsed known_hosts file (OpenSSH format), read as bytes, line by line, as OpenSSH's hostfile.c does: a line
/// that cannot be read is skipped (and reported in `skipped` with its number), never the rest of the file; LF and
/// CRLF line ends are both accepted; no byte on one line changes how another line is read. Pure: no I/O.
///
/// Understood: plain names, comma lists, `[host]:port`, `*`/`?` wildcards, `!negation`, hashed `|1|salt|hash`
/// names, `@revoked` (a matching key is refused) and `@cert-authority` (kept, but matches no plain host key:
/// certificates are not supported), comments, blank lines.
public struct KnownHostsFile: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public enum Marker: String, Sendable { case revoked = "@revoked", certAuthority = "@cert-authority" }
        public let line: Int
        public let marker: Marker?
        public let hosts: KnownHostsHostField
        public let keyType: String
        /// The decoded key (SSH wire format, checked to start with `keyType`).
        public let keyBlob: [UInt8]

        /// The key in canonical base64, as OpenSSH writes it.
        public var keyBase64: String { Data(keyBlob).base64EncodedString() }
    }

    /// A line that holds something and could not be read; it is ignored, the rest of the file counts.
    public struct SkippedLine: Sendable, Equatable {
        public let line: Int
        public let reason: KnownHostsLine.Problem

        public init(line: Int, reason: KnownHostsLine.Problem) {
            self.line = line
            self.reason = reason
        }
    }

    /// Longer lines are skipped (OpenSSH has no limit; 64 KiB holds a 16384-bit RSA key and hundreds of names).
    public static let maximumLineBytes = 64 * 1024
    /// A larger file is not read at all (`KnownHostsError.tooLarge`): refusing is safe, skipping its tail is not.
    public static let maximumFileBytes = 64 * 1024 * 1024

    public let path: String
    public let entries: [Entry]
    public let skipped: [SkippedLine]

    public init<Bytes: Collection>(path: String, bytes: Bytes) where Bytes.Element == UInt8, Bytes.Index == Int {
        self.path = path
        var entries: [Entry] = []
        var skipped: [SkippedLine] = []
        var number = 0
        var start = bytes.startIndex
        while start < bytes.endIndex {
            number += 1
            let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
            var end = newline
            if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            switch KnownHostsLine.parse(bytes[start..<end]) {
            case .nothing: break
            case .entry(let marker, let hosts, let keyType, let keyBlob):
                entries.append(Entry(line: number, marker: marker, hosts: hosts, keyType: keyType, keyBlob: keyBlob))
            case .unreadable(let problem):
                skipped.append(SkippedLine(line: number, reason: problem))
            }
            start = newline == bytes.endIndex ? newline : newline + 1
        }
        self.entries = entries
        self.skipped = skipped
    }

    /// Text as UTF-8 bytes (tests, and files written by the product).
    public init(path: String, contents: String) { self.init(path: path, bytes: Array(contents.utf8)) }

    /// The name known_hosts uses for host:port (`host` for port 22, `[host]:port` otherwise).
    public static func hostName(_ host: String, port: Int) -> String {
        port == 22 ? host : "[\(host)]:\(port)"
    }

    /// Entries (without markers) whose host field matches host:port.
    public func entries(forHost host: String, port: Int) -> [Entry] {
        let name = Array(Self.hostName(host, port: port).utf8)
        return entries.filter { $0.marker == nil && $0.hosts.matches(name) }
    }

    /// The line to append for a newly accepted key.
    public static func line(host: String, port: Int, keyType: String, keyBase64: String) -> String {
        "\(hostName(host, port: port)) \(keyType) \(keyBase64)"
    }

    /// The bytes to append so that `line` becomes a line of its own in a file that now holds `existing` (its tail
    /// is enough): a missing final line end is added first, and the file's own line end (CRLF or LF) is used.
    public static func appendix(for line: String, after existing: [UInt8]) -> [UInt8] {
        let usesCRLF = Self.endsLinesWithCRLF(existing)
        let end: [UInt8] = usesCRLF ? [13, 10] : [10]
        var out: [UInt8] = []
        if let last = existing.last, last != 10 { out += end }
        return out + Array(line.utf8) + end
    }

    /// Whether the last line end in `bytes` is CRLF (a file without any line end counts as LF).
    static func endsLinesWithCRLF(_ bytes: [UInt8]) -> Bool {
        guard let newline = bytes.lastIndex(of: 10) else { return false }
        return newline > 0 && bytes[newline - 1] == 13
    }
}

/// Why a known_hosts file could not be read at all.
public enum KnownHostsError: Error, Equatable, CustomStringConvertible {
    case tooLarge(file: String, bytes: Int)
    case unreadable(file: String, reason: String)

    public var description: String {
        switch self {
        case .tooLarge(let file, let bytes):
            return "The known_hosts file \(file) is larger than \(KnownHostsFile.maximumFileBytes) bytes (\(bytes)); "
                + "host keys are not checked against a file that cannot be read whole: remove stale lines from it."
        case .unreadable(let file, let reason):
            return "The known_hosts file \(file) exists but cannot be read (\(reason)); fix its permissions, or point "
                + "UserKnownHostsFile (--known-hosts) at another file."
        }
    }
}
