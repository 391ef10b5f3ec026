#if canImport(Glibc)
import Glibc
#endif

/// A numeric IPv4 or IPv6 socket address, held by value in a `sockaddr_storage`. Every `sockaddr` pointer handed to
/// the kernel lives only inside `withSockaddr`, so nothing escapes a `withUnsafe…` scope (an escaping pointer here
/// once made bind(2) see AF_UNSPEC in optimised builds only).
public struct SocketAddress: Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Family: Sendable, Equatable { case ipv4, ipv6 }

    private var storage: sockaddr_storage
    public let family: Family

    /// Parses a numeric address (`127.0.0.1`, `::1`; brackets allowed around IPv6); nil for names or garbage.
    public init?(host: String, port: Int) {
        guard (0...65535).contains(port) else { return nil }
        var host = host
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        var storage = sockaddr_storage()
        let parsed: Family? = withUnsafeMutableBytes(of: &storage) { raw in
            if host.contains(":") {
                var v6 = sockaddr_in6()
                v6.sin6_family = sa_family_t(AF_INET6)
                v6.sin6_port = in_port_t(UInt16(port).bigEndian)
                guard inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 else { return nil }
                withUnsafeBytes(of: &v6) { raw.copyMemory(from: $0) }
                return .ipv6
            }
            var v4 = sockaddr_in()
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET, host, &v4.sin_addr) == 1 else { return nil }
            withUnsafeBytes(of: &v4) { raw.copyMemory(from: $0) }
            return .ipv4
        }
        guard let parsed else { return nil }
        self.storage = storage
        self.family = parsed
    }

    /// Takes what accept(2)/getsockname(2) filled in; nil for families other than IPv4/IPv6.
    /// True when `host` is an IPv4 or IPv6 address literal (inet_pton(3); no brackets, no port).
    public static func isNumeric(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    public init?(storage: sockaddr_storage) {
        switch Int32(storage.ss_family) {
        case AF_INET: family = .ipv4
        case AF_INET6: family = .ipv6
        default: return nil
        }
        self.storage = storage
    }

    /// AF_INET or AF_INET6.
    public var addressFamily: Int32 { family == .ipv6 ? AF_INET6 : AF_INET }

    public var length: socklen_t {
        socklen_t(family == .ipv6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
    }

    /// Calls `body` with a `sockaddr` pointer valid only for the call.
    public func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        var copy = storage
        let length = self.length
        return try withUnsafeBytes(of: &copy) { raw in
            try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }

    public var port: Int {
        var copy = storage
        return withUnsafeBytes(of: &copy) { raw in
            switch family {
            case .ipv4: return Int(UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port))
            case .ipv6: return Int(UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port))
            }
        }
    }

    /// The numeric host (`127.0.0.1`, `::1`), without brackets.
    public var host: String {
        var copy = storage
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        withUnsafeBytes(of: &copy) { raw in
            switch family {
            case .ipv4:
                var address = raw.load(as: sockaddr_in.self).sin_addr
                _ = inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
            case .ipv6:
                var address = raw.load(as: sockaddr_in6.self).sin6_addr
                _ = inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
            }
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// 127.0.0.0/8, ::1, or an IPv4-mapped loopback address.
    public var isLoopback: Bool {
        var copy = storage
        return withUnsafeBytes(of: &copy) { raw in
            switch family {
            case .ipv4:
                return LoopbackRule.isLoopback(ipv4: withUnsafeBytes(of: raw.load(as: sockaddr_in.self).sin_addr) { Array($0) })
            case .ipv6:
                return LoopbackRule.isLoopback(ipv6: withUnsafeBytes(of: raw.load(as: sockaddr_in6.self).sin6_addr) { Array($0) })
            }
        }
    }

    /// 0.0.0.0 or ::.
    public var isWildcard: Bool { host == "0.0.0.0" || host == "::" }

    /// `127.0.0.1:21`, `[::1]:21`.
    public var description: String { family == .ipv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        lhs.family == rhs.family && lhs.host == rhs.host && lhs.port == rhs.port
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(host)
        hasher.combine(port)
    }
}

extension SocketAddress {
    /// Copies a `sockaddr` that getaddrinfo(3) returned; nil for families other than IPv4/IPv6.
    public init?(_ address: UnsafePointer<sockaddr>, length: socklen_t) {
        guard Int(length) <= MemoryLayout<sockaddr_storage>.size else { return nil }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(start: address, count: Int(length)))
        }
        self.init(storage: storage)
    }
}

extension SocketAddress {
    /// The address in network order: 4 bytes for IPv4, 16 for IPv6.
    public var addressBytes: [UInt8] {
        var copy = storage
        return withUnsafeBytes(of: &copy) { raw in
            switch family {
            case .ipv4: return withUnsafeBytes(of: raw.load(as: sockaddr_in.self).sin_addr) { Array($0) }
            case .ipv6: return withUnsafeBytes(of: raw.load(as: sockaddr_in6.self).sin6_addr) { Array($0) }
            }
        }
    }

    /// An address from its network-order bytes (4: IPv4, 16: IPv6); nil for any other count or port.
    public init?(addressBytes bytes: [UInt8], port: Int) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        guard bytes.withUnsafeBytes({ inet_ntop(family, $0.baseAddress, &text, socklen_t(text.count)) }) != nil else { return nil }
        self.init(host: String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), port: port)
    }

    /// An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) as the IPv4 address it stands for; any other unchanged.
    /// A dual-stack socket sees IPv4 peers this way; the kernel's tables hold them as IPv4.
    public var unmapped: SocketAddress {
        let bytes = addressBytes
        guard family == .ipv6, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF,
              let v4 = SocketAddress(addressBytes: Array(bytes[12..<16]), port: port) else { return self }
        return v4
    }
}
