import Foundation

/// The host field of a known_hosts line: a hashed name (`|1|base64 salt|base64 HMAC-SHA1(salt, name)`) or a comma
/// list of patterns (`*`, `?`, `!negation`, `[host]:port`), matched against names as bytes, ASCII case ignored.
public enum KnownHostsHostField: Sendable, Equatable {
    case hashed(salt: [UInt8], hash: [UInt8])
    case patterns([[UInt8]])

    /// nil for a `|…` field that is not a well-formed hashed name (20-byte salt and hash, as ssh-keygen -H writes),
    /// or an empty pattern list.
    public init?(_ field: [UInt8]) {
        if field.first == UInt8(ascii: "|") {
            let parts = field.split(separator: UInt8(ascii: "|"), omittingEmptySubsequences: false)
            guard parts.count == 4, parts[0].isEmpty, parts[1] == [UInt8(ascii: "1")],
                  let salt = KnownHostsLine.decodeBase64(Array(parts[2])), salt.count == 20,
                  let hash = KnownHostsLine.decodeBase64(Array(parts[3])), hash.count == 20 else { return nil }
            self = .hashed(salt: salt, hash: hash)
            return
        }
        let patterns = field.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: true).map(Array.init)
        guard !patterns.isEmpty else { return nil }
        self = .patterns(patterns)
    }

    /// Whether `name` (`host` or `[host]:port`) matches: a hashed field by its HMAC, a pattern list when some
    /// pattern matches and no `!pattern` does.
    public func matches(_ name: [UInt8]) -> Bool {
        switch self {
        case .hashed(let salt, let hash):
            return Digest.hmacSHA1(key: salt, message: name) == hash
        case .patterns(let patterns):
            let lowered = Self.lowercased(name)
            var matched = false
            for pattern in patterns {
                if pattern.first == UInt8(ascii: "!") {
                    if Self.wildcardMatch(pattern: Self.lowercased(Array(pattern.dropFirst())), name: lowered) { return false }
                } else if Self.wildcardMatch(pattern: Self.lowercased(pattern), name: lowered) {
                    matched = true
                }
            }
            return matched
        }
    }

    static func lowercased(_ bytes: [UInt8]) -> [UInt8] {
        bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }
    }

    /// OpenSSH's match_pattern: `*` any run, `?` one byte.
    static func wildcardMatch(pattern: [UInt8], name: [UInt8]) -> Bool {
        let star = UInt8(ascii: "*"), question = UInt8(ascii: "?")
        var p = 0, n = 0
        var starAt = -1, mark = 0
        while n < name.count {
            if p < pattern.count, pattern[p] == question || pattern[p] == name[n] {
                p += 1; n += 1
            } else if p < pattern.count, pattern[p] == star {
                starAt = p; mark = n; p += 1
            } else if starAt >= 0 {
                p = starAt + 1; mark += 1; n = mark
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == star { p += 1 }
        return p == pattern.count
    }
}
