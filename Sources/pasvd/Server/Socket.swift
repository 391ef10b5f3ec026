import Foundation

/// A failed system call: its name and errno, printed as one sentence.
struct SystemError: Error, CustomStringConvertible {
    let code: Int32
    let operation: String
    init(_ operation: String, code: Int32 = errno) {
        self.operation = operation
        self.code = code
    }
    var description: String { "\(operation) failed: \(String(cString: strerror(code)))" }
}

/// An IPv4 address and port.
struct SocketEndpoint: Sendable, Equatable, CustomStringConvertible {
    let host: String
    let port: Int
    var description: String { "\(host):\(port)" }
}

/// The choke point for socket system calls: EINTR retried, failures thrown as `SystemError`.
enum Socket {
    /// Pending connections the kernel queues for the control listener.
    static let controlBacklog: Int32 = 128

    static func address(_ host: String, port: Int) -> sockaddr_in? {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return nil }
        return address
    }

    /// True for 127.0.0.0/8.
    static func isLoopback(_ host: String) -> Bool {
        guard let address = address(host, port: 0) else { return false }
        return UInt32(bigEndian: address.sin_addr.s_addr) >> 24 == 127
    }

    /// A listening IPv4 TCP socket (close-on-exec, SO_REUSEADDR so TIME_WAIT ports can be reused).
    static func listen(on host: String, port: Int, backlog: Int32) throws(SystemError) -> Int32 {
        guard var address = address(host, port: port) else { throw SystemError("parse address \(host)", code: EINVAL) }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError("socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else {
            let error = SystemError("bind \(host):\(port)")
            close(fd)
            throw error
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let error = SystemError("listen \(host):\(port)")
            close(fd)
            throw error
        }
        return fd
    }

    /// accept(2) with close-on-exec; nil on a transient failure (the caller polls again).
    static func accept(_ fd: Int32) -> Int32? {
        while true {
            let client = Glibc.accept(fd, nil, nil)
            if client >= 0 {
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                return client
            }
            if errno == EINTR { continue }
            return nil
        }
    }

    static func localEndpoint(_ fd: Int32) -> SocketEndpoint? { endpoint(fd, getsockname) }
    static func peerEndpoint(_ fd: Int32) -> SocketEndpoint? { endpoint(fd, getpeername) }

    private static func endpoint(
        _ fd: Int32, _ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) -> SocketEndpoint? {
        var storage = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { call(fd, $0, &length) }
        }
        guard rc == 0, storage.sin_family == sa_family_t(AF_INET) else { return nil }
        var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
        var addr = storage.sin_addr
        guard inet_ntop(AF_INET, &addr, &text, socklen_t(text.count)) != nil else { return nil }
        return SocketEndpoint(host: String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), port: Int(UInt16(bigEndian: storage.sin_port)))
    }

    /// Control connections: replies leave at once (no Nagle delay between 426 and 226), and a client that
    /// stops reading cannot block its session thread for longer than `sendTimeout` seconds.
    static func configureControl(_ fd: Int32, sendTimeout: Double) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var timeout = timeval(tv_sec: Int(sendTimeout), tv_usec: Int(sendTimeout.truncatingRemainder(dividingBy: 1) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
    }

    /// poll(2) over `fds`; EINTR counts as "nothing ready yet".
    static func poll(_ fds: inout [pollfd], milliseconds: Int32) -> Int32 {
        let rc = Glibc.poll(&fds, nfds_t(fds.count), milliseconds)
        return rc < 0 && errno == EINTR ? 0 : rc
    }

    /// Writes every byte to a blocking descriptor; false when the peer is gone.
    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }
}

extension pollfd {
    init(_ fd: Int32, _ events: Int32) {
        self.init(fd: fd, events: Int16(events), revents: 0)
    }
    var isReadableOrClosed: Bool { Int32(revents) & (POLLIN | POLLHUP | POLLERR | POLLNVAL) != 0 }
    var isWritableOrClosed: Bool { Int32(revents) & (POLLOUT | POLLHUP | POLLERR | POLLNVAL) != 0 }
}
