import Foundation

/// A local TCP listening socket (non-blocking, close-on-exec) that forwards each accepted connection to `target`.
/// Bound first and put into listening state later, so a bind failure is found before any SSH work and no port
/// accepts connections before the host key is verified.
final class LocalListener {
    let fd: Int32
    let address: String
    let port: Int
    let target: ForwardTarget
    /// One-shot listeners (rewrite mode) close after their first connection.
    let oneShot: Bool
    /// Marks the control listener (where a `StreamFilter` applies).
    let isControl: Bool
    private(set) var isListening = false

    init(address: String, port: Int, target: ForwardTarget, oneShot: Bool = false, isControl: Bool = false) throws {
        self.address = address
        self.target = target
        self.oneShot = oneShot
        self.isControl = isControl
        let (storage, length, family) = try SocketAddress.make(address, port)
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TunnelError.bindFailed(address: address, port: port, reason: String(cString: strerror(errno))) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = storage
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw TunnelError.bindFailed(address: self.address, port: port, reason: reason)
        }
        self.fd = fd
        self.port = port == 0 ? SocketAddress.localPort(of: fd) : port
    }

    func listen() throws {
        guard Foundation.listen(fd, SOMAXCONN) == 0 else {
            throw TunnelError.bindFailed(address: address, port: port, reason: String(cString: strerror(errno)))
        }
        isListening = true
    }

    /// Accepts one pending connection (non-blocking); nil when none is waiting.
    func accept() -> (fd: Int32, peer: String, peerPort: Int)? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let client = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Foundation.accept(fd, $0, &length)
            }
        }
        guard client >= 0 else { return nil }
        _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
        _ = fcntl(client, F_SETFD, FD_CLOEXEC)
        var one: Int32 = 1
        setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let (host, port) = SocketAddress.describe(storage)
        return (client, host, port)
    }

    deinit { close(fd) }
}

/// sockaddr helpers for numeric IPv4/IPv6 addresses.
enum SocketAddress {
    static func make(_ host: String, _ port: Int) throws -> (sockaddr_storage, socklen_t, Int32) {
        var storage = sockaddr_storage()
        if host.contains(":") {
            var v6 = sockaddr_in6()
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(port).bigEndian)
            guard inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 else { throw TunnelError.badBindAddress(host) }
            withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: withUnsafeBytes(of: v6) { UnsafeRawBufferPointer($0) }) }
            return (storage, socklen_t(MemoryLayout<sockaddr_in6>.size), AF_INET6)
        }
        var v4 = sockaddr_in()
        v4.sin_family = sa_family_t(AF_INET)
        v4.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &v4.sin_addr) == 1 else { throw TunnelError.badBindAddress(host) }
        withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: withUnsafeBytes(of: v4) { UnsafeRawBufferPointer($0) }) }
        return (storage, socklen_t(MemoryLayout<sockaddr_in>.size), AF_INET)
    }

    static func localPort(of fd: Int32) -> Int {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return describe(storage).port
    }

    static func describe(_ storage: sockaddr_storage) -> (host: String, port: Int) {
        var copy = storage
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        if Int32(storage.ss_family) == AF_INET6 {
            return withUnsafePointer(to: &copy) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { v6 in
                    var address = v6.pointee.sin6_addr
                    inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
                    return (text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }, Int(UInt16(bigEndian: v6.pointee.sin6_port)))
                }
            }
        }
        return withUnsafePointer(to: &copy) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { v4 in
                var address = v4.pointee.sin_addr
                inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
                return (text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }, Int(UInt16(bigEndian: v4.pointee.sin_port)))
            }
        }
    }
}
