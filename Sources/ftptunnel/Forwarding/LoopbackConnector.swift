import Foundation

/// Outbound TCP connections to a local FTP client's active-mode port (loopback only, checked by the filter).
enum LoopbackConnector {
    /// Connects without blocking longer than `timeoutMilliseconds` (a loopback connect is answered at once unless
    /// the client's backlog is full); returns a non-blocking, close-on-exec socket.
    static func connect(host: String, port: Int, timeoutMilliseconds: Int32) throws -> Int32 {
        let (storage, length, family) = try SocketAddress.make(host, port)
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TunnelError.internalFailure("socket: \(String(cString: strerror(errno)))") }
        var address = storage
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(fd, $0, length) }
        }
        if rc != 0 {
            guard errno == EINPROGRESS else { return try fail(fd, host, port, String(cString: strerror(errno))) }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            var ready: Int32
            repeat { ready = poll(&pfd, 1, timeoutMilliseconds) } while ready < 0 && errno == EINTR
            guard ready == 1 else { return try fail(fd, host, port, "no answer within \(timeoutMilliseconds) ms") }
            var error: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
            if error != 0 { return try fail(fd, host, port, String(cString: strerror(error))) }
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    private static func fail(_ fd: Int32, _ host: String, _ port: Int, _ reason: String) throws -> Int32 {
        close(fd)
        let shown = host.contains(":") ? "[\(host)]" : host
        throw DataConnectionError.clientUnreachable(address: "\(shown):\(port)", reason: reason)
    }
}
