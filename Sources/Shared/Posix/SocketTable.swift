import Glibc

/// The kernel's TCP socket table (/proc/net/tcp and /proc/net/tcp6): which local uid owns the socket at the
/// other end of a loopback connection. The parser is pure; `owner(of:connectedTo:)` reads the files.
public enum SocketTable {
    /// One row: local and remote address (raw bytes, network order) and port, and the owning uid.
    public struct Row: Equatable, Sendable {
        public let local: [UInt8]
        public let localPort: Int
        public let remote: [UInt8]
        public let remotePort: Int
        public let uid: UInt32
    }

    /// Largest table read (a busy host has many sockets; beyond this the owner is "unknown", i.e. refused).
    public static let maximumBytes = 32 << 20
    static let files = ["/proc/net/tcp", "/proc/net/tcp6"]

    /// Parses the text of /proc/net/tcp or tcp6 (header line skipped, malformed rows ignored).
    public static func parse(_ text: String) -> [Row] {
        text.split(separator: "\n").dropFirst().compactMap(parseRow)
    }

    /// `  0: 0100007F:0015 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000  0 12345 …`
    static func parseRow(_ line: Substring) -> Row? {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 8, fields[0].hasSuffix(":"),
              let local = endpoint(fields[1]), let remote = endpoint(fields[2]),
              let uid = UInt32(fields[7]) else { return nil }
        return Row(local: local.address, localPort: local.port, remote: remote.address, remotePort: remote.port, uid: uid)
    }

    /// `0100007F:0015`: the address as 32-bit words printed in host (little-endian) order, the port in hex.
    static func endpoint(_ text: Substring) -> (address: [UInt8], port: Int)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 8 || parts[0].count == 32, parts[1].count == 4,
              let port = Int(parts[1], radix: 16) else { return nil }
        var address: [UInt8] = []
        var word = parts[0][...]
        while !word.isEmpty {
            guard let value = UInt32(word.prefix(8), radix: 16) else { return nil }
            address += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 24)]
            word = word.dropFirst(8)
        }
        return (address, port)
    }

    /// The uid owning the socket whose local end is `peer` and remote end `server` in `rows`.
    public static func owner(in rows: [Row], of peer: SocketAddress, connectedTo server: SocketAddress) -> UInt32? {
        guard let peerBytes = bytes(peer), let serverBytes = bytes(server) else { return nil }
        return rows.first {
            $0.local == peerBytes && $0.localPort == peer.port && $0.remote == serverBytes && $0.remotePort == server.port
        }?.uid
    }

    /// Reads the table and finds the owner of the connecting socket `peer` (connected to `server`); nil when
    /// no row matches (the connection is gone, or the table could not be read).
    public static func owner(of peer: SocketAddress, connectedTo server: SocketAddress) -> UInt32? {
        let file = peer.family == .ipv6 ? files[1] : files[0]
        guard let text = read(file) else { return nil }
        return owner(in: parse(text), of: peer, connectedTo: server)
    }

    static func bytes(_ address: SocketAddress) -> [UInt8]? {
        var result = [UInt8](repeating: 0, count: address.family == .ipv6 ? 16 : 4)
        let family = address.family == .ipv6 ? AF_INET6 : AF_INET
        return inet_pton(family, address.host, &result) == 1 ? result : nil
    }

    /// The whole file, bounded by `maximumBytes`.
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while data.count < maximumBytes {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { return nil }
            if n == 0 { return String(decoding: data, as: UTF8.self) }
            data += chunk[0..<n]
        }
        return nil
    }
}
