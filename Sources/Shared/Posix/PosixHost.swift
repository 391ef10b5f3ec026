#if canImport(Glibc)
import Glibc
#endif

/// This host's name and the name service, through the `Posix` choke point.
public enum PosixHost {
    /// gethostname(2), nil when it fails.
    public static func name() -> String? {
        var buffer = [CChar](repeating: 0, count: Int(HOST_NAME_MAX) + 1)
        guard gethostname(&buffer, buffer.count) == 0 else { return nil }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A name the resolver could not turn into addresses, with getaddrinfo's reason (gai_strerror).
    public struct ResolveError: Error, Sendable {
        public let reason: String
    }

    /// getaddrinfo(3) of `host` for TCP on `port`: every IPv4 and IPv6 address, in the resolver's order.
    public static func addresses(of host: String, port: Int) throws(ResolveError) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, "\(port)", &hints, &list)
        guard rc == 0, let first = list else { throw ResolveError(reason: String(cString: gai_strerror(rc))) }
        defer { freeaddrinfo(first) }
        var addresses: [SocketAddress] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            if let raw = info.pointee.ai_addr, let address = SocketAddress(raw, length: info.pointee.ai_addrlen) {
                addresses.append(address)
            }
        }
        return addresses
    }
}
