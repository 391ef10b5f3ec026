import Foundation
import Shared

/// A parsed known_hosts file (OpenSSH format). Pure: parsing and matching only; no I/O besides `load`.
///
/// Understood: plain names, comma lists, `[host]:port`, `*`/`?` wildcards, `!negation`, hashed `|1|salt|hash`
/// names, `@revoked` (a matching key is refused) and `@cert-authority` (ignored: certificates are not supported),
/// comments and blank lines.
struct KnownHostsFile: Sendable, Equatable {
    struct Entry: Sendable, Equatable {
        enum Marker: String, Sendable { case revoked = "@revoked", certAuthority = "@cert-authority" }
        let line: Int
        let marker: Marker?
        let hosts: String
        let keyType: String
        let keyBase64: String
    }

    let path: String
    let entries: [Entry]

    init(path: String, contents: String) {
        self.path = path
        var entries: [Entry] = []
        for (index, rawLine) in contents.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var fields = rawLine.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard let first = fields.first, !first.hasPrefix("#") else { continue }
            var marker: Entry.Marker?
            if first.hasPrefix("@") {
                guard let known = Entry.Marker(rawValue: first) else { continue }
                marker = known
                fields.removeFirst()
            }
            guard fields.count >= 3 else { continue }
            entries.append(Entry(line: index + 1, marker: marker, hosts: fields[0], keyType: fields[1], keyBase64: fields[2]))
        }
        self.entries = entries
    }

    /// Reads `path`; a missing file is an empty one.
    static func load(_ path: String) -> KnownHostsFile {
        KnownHostsFile(path: path, contents: (try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
    }

    /// The name known_hosts uses for host:port (`host` for port 22, `[host]:port` otherwise).
    static func hostName(_ host: String, port: Int) -> String {
        port == 22 ? host : "[\(host)]:\(port)"
    }

    /// Entries (without markers) whose host field matches host:port.
    func entries(forHost host: String, port: Int) -> [Entry] {
        let name = Self.hostName(host, port: port)
        return entries.filter { $0.marker == nil && Self.matches(hostField: $0.hosts, name: name) }
    }

    /// True when an `@revoked` entry holds this key.
    func isRevoked(keyType: String, keyBase64: String) -> Bool {
        entries.contains { $0.marker == .revoked && $0.keyType == keyType && $0.keyBase64 == keyBase64 }
    }

    /// The line to append for a newly accepted key.
    static func line(host: String, port: Int, keyType: String, keyBase64: String) -> String {
        "\(hostName(host, port: port)) \(keyType) \(keyBase64)"
    }

    /// Whether a known_hosts host field (hashed, or a comma list of patterns) matches `name`.
    static func matches(hostField: String, name: String) -> Bool {
        if hostField.hasPrefix("|1|") { return hashedMatches(hostField, name: name) }
        var matched = false
        for pattern in hostField.split(separator: ",") {
            if pattern.hasPrefix("!") {
                if wildcardMatch(pattern: Array(pattern.dropFirst().lowercased()), name: Array(name.lowercased())) { return false }
            } else if wildcardMatch(pattern: Array(pattern.lowercased()), name: Array(name.lowercased())) {
                matched = true
            }
        }
        return matched
    }

    /// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`
    static func hashedMatches(_ field: String, name: String) -> Bool {
        let parts = field.split(separator: "|", omittingEmptySubsequences: true)
        guard parts.count == 3, parts[0] == "1",
              let salt = Data(base64Encoded: String(parts[1])),
              let hash = Data(base64Encoded: String(parts[2])) else { return false }
        return Digest.hmacSHA1(key: Array(salt), message: Array(name.utf8)) == Array(hash)
    }

    /// OpenSSH's match_pattern: `*` any run, `?` one character.
    static func wildcardMatch(pattern: [Character], name: [Character]) -> Bool {
        var p = 0, n = 0
        var star = -1, mark = 0
        while n < name.count {
            if p < pattern.count, pattern[p] == "?" || pattern[p] == name[n] {
                p += 1; n += 1
            } else if p < pattern.count, pattern[p] == "*" {
                star = p; mark = n; p += 1
            } else if star >= 0 {
                p = star + 1; mark += 1; n = mark
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}

/// What the known_hosts files say about the key a server presented.
enum HostKeyStatus: Equatable {
    /// One key on record for the host (a plain, unmarked entry).
    struct Recorded: Equatable {
        let file: String
        let line: Int
        let keyType: String
        let keyBase64: String
    }

    case known(file: String, line: Int)
    /// Keys are on record for the host and the presented one is none of them, whatever its type (OpenSSH's
    /// HOST_CHANGED): possible man-in-the-middle. Every recorded key, in file order.
    case changed(recorded: [Recorded])
    case revoked(file: String, line: Int)
    case unknown
}

extension Array where Element == KnownHostsFile {
    /// Checks host:port presenting `keyType keyBase64` against every file, OpenSSH style: revoked before known,
    /// known before changed; only a host with no key on record at all is unknown.
    func status(host: String, port: Int, keyType: String, keyBase64: String) -> HostKeyStatus {
        for file in self {
            if let revoked = file.entries.first(where: { $0.marker == .revoked && $0.keyBase64 == keyBase64 }) {
                return .revoked(file: file.path, line: revoked.line)
            }
        }
        let recorded = recordedKeys(host: host, port: port)
        if let match = recorded.first(where: { $0.keyType == keyType && $0.keyBase64 == keyBase64 }) {
            return .known(file: match.file, line: match.line)
        }
        return recorded.isEmpty ? .unknown : .changed(recorded: recorded)
    }

    /// Every unmarked key on record for host:port, in file order.
    func recordedKeys(host: String, port: Int) -> [HostKeyStatus.Recorded] {
        flatMap { file in
            file.entries(forHost: host, port: port).map {
                HostKeyStatus.Recorded(file: file.path, line: $0.line, keyType: $0.keyType, keyBase64: $0.keyBase64)
            }
        }
    }

    /// Key types on record for host:port, in file order, without duplicates.
    func keyTypes(host: String, port: Int) -> [String] {
        var seen: [String] = []
        for key in recordedKeys(host: host, port: port) where !seen.contains(key.keyType) {
            seen.append(key.keyType)
        }
        return seen
    }
}

/// `SHA256:base64` (no padding) of a key blob, as OpenSSH prints fingerprints.
enum Fingerprint {
    static func sha256(ofKeyBlob blob: [UInt8]) -> String {
        "SHA256:" + Data(Digest.sha256(blob)).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    static func sha256(ofKeyBase64 key: String) -> String {
        guard let blob = Data(base64Encoded: key) else { return "(unreadable key)" }
        return sha256(ofKeyBlob: Array(blob))
    }
}
