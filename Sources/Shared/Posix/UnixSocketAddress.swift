#if canImport(Glibc)
import Glibc
#endif

/// An AF_UNIX address held by value: a file-system path (`/run/user/1000/systemd/notify`) or, written with a
/// leading `@`, a name in Linux's abstract namespace (`@/org/freedesktop/systemd1/notify/123`), as systemd spells
/// `$NOTIFY_SOCKET`. The `sockaddr` pointer lives only inside `withSockaddr`.
public struct UnixSocketAddress: Sendable, Equatable, CustomStringConvertible {
    /// The path bytes as the kernel sees them: an abstract name starts with NUL and has no terminator.
    private let pathBytes: [UInt8]
    public let description: String

    /// The longest path sun_path holds (108 bytes on Linux, less the terminator of a file-system path).
    public static let capacity = MemoryLayout.size(ofValue: sockaddr_un().sun_path)

    /// nil for an empty, relative or too long path (the kernel would refuse it or truncate it).
    public init?(_ text: String) {
        var bytes = Array(text.utf8)
        if bytes.first == UInt8(ascii: "@") {
            guard bytes.count >= 2, bytes.count <= Self.capacity else { return nil }
            bytes[0] = 0
        } else {
            guard bytes.first == UInt8(ascii: "/"), bytes.count < Self.capacity, !bytes.contains(0) else { return nil }
        }
        pathBytes = bytes
        description = text
    }

    public var isAbstract: Bool { pathBytes.first == 0 }

    /// Calls `body` with a `sockaddr` pointer valid only for the call and the exact address length (for an
    /// abstract name the length is what delimits it: no trailing NUL is counted).
    public func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> R) rethrows -> R {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        let length = socklen_t(pathOffset + pathBytes.count + (isAbstract ? 0 : 1))
        return try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }
}
