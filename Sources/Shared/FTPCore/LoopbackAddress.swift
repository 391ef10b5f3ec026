import Posix

/// Recognises loopback addresses in text form (`LoopbackRule`: IPv4 127.0.0.0/8, IPv6 ::1, IPv4-mapped
/// ::ffff:127.x.x.x). The rewriter connects active-mode data connections only to these.
public enum LoopbackAddress {
    public static func isLoopback(_ host: String) -> Bool {
        if let octets = PassiveEndpoint.ipv4Octets(host) { return LoopbackRule.isLoopback(ipv4: octets.map(UInt8.init)) }
        guard let bytes = ipv6Bytes(host) else { return false }
        return LoopbackRule.isLoopback(ipv6: bytes)
    }

    /// A listening address only this host can reach: a loopback address, or `localhost`.
    public static func isLocalOnly(bindAddress: String) -> Bool {
        bindAddress == "localhost" || isLoopback(bindAddress)
    }

    private static let ipv6ByteCount = 16
    private static let maximumGroupDigits = 4

    /// Parses textual IPv6 (RFC 4291 §2.2, `::` compression, trailing dotted IPv4) into 16 bytes.
    static func ipv6Bytes(_ text: String) -> [UInt8]? {
        guard text.contains(":"), text.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
        let halves = splitAtDoubleColon(text)
        guard halves.count <= 2 else { return nil }
        func parse(_ part: String) -> [UInt8]? {
            if part.isEmpty { return [] }
            var bytes: [UInt8] = []
            let groups = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, group) in groups.enumerated() {
                if index == groups.count - 1, group.contains(".") {
                    guard let octets = PassiveEndpoint.ipv4Octets(String(group)) else { return nil }
                    bytes += octets.map(UInt8.init)
                    continue
                }
                guard (1...maximumGroupDigits).contains(group.count), let value = UInt16(group, radix: 16) else { return nil }
                bytes += [UInt8(value >> 8), UInt8(value & 0xFF)]
            }
            return bytes
        }
        guard let head = parse(halves[0]) else { return nil }
        if halves.count == 1 { return head.count == ipv6ByteCount ? head : nil }
        guard let tail = parse(halves[1]), head.count + tail.count < ipv6ByteCount else { return nil }
        return head + Array(repeating: 0, count: ipv6ByteCount - head.count - tail.count) + tail
    }

    /// Splits at each `::` (a valid address has at most one).
    private static func splitAtDoubleColon(_ text: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var previousWasColon = false
        for character in text {
            if character == ":", previousWasColon {
                current.removeLast()
                parts.append(current)
                current = ""
                previousWasColon = false
                continue
            }
            current.append(character)
            previousWasColon = character == ":"
        }
        parts.append(current)
        return parts
    }
}
