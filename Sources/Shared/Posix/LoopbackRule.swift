/// The one loopback rule, on an address's bytes in network order: IPv4 127.0.0.0/8, IPv6 ::1 and IPv4-mapped
/// ::ffff:127.x.x.x. `SocketAddress.isLoopback` (socket addresses) and `LoopbackAddress` (addresses as text) ask it.
public enum LoopbackRule {
    public static func isLoopback(ipv4 bytes: [UInt8]) -> Bool {
        bytes.count == 4 && bytes[0] == 127
    }

    public static func isLoopback(ipv6 bytes: [UInt8]) -> Bool {
        guard bytes.count == 16 else { return false }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
        return bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
    }
}
