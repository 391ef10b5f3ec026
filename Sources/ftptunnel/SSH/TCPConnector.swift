import Foundation

/// Opens the TCP connection an SSH session runs on: every address getaddrinfo returns (IPv4 and IPv6),
/// in order, each bounded by ConnectTimeout; TCP_NODELAY set on the result.
struct TCPConnector {
    let host: String
    let port: Int
    /// Seconds per address attempt; nil waits for the kernel's own time-out.
    let timeout: Int?

    func connect() throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, "\(port)", &hints, &list)
        guard rc == 0, let first = list else {
            throw SSHError.resolveFailed(host: host, reason: String(cString: gai_strerror(rc)))
        }
        defer { freeaddrinfo(first) }
        var lastReason = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            do {
                return try attempt(info.pointee)
            } catch let error as ConnectAttemptError {
                lastReason = error.reason
            }
        }
        throw SSHError.connectFailed(host: host, port: port, reason: lastReason)
    }

    private struct ConnectAttemptError: Error { let reason: String }

    private func attempt(_ info: addrinfo) throws -> Int32 {
        let fd = socket(info.ai_family, info.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.ai_protocol)
        guard fd >= 0 else { throw ConnectAttemptError(reason: String(cString: strerror(errno))) }
        var ok = false
        defer { if !ok { close(fd) } }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        if Foundation.connect(fd, info.ai_addr, info.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else { throw ConnectAttemptError(reason: String(cString: strerror(errno))) }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let millis = timeout.map { Int32(clamping: $0 * 1000) } ?? -1
            var ready: Int32
            repeat { ready = poll(&pfd, 1, millis) } while ready < 0 && errno == EINTR
            if ready == 0 { throw ConnectAttemptError(reason: "timed out after \(timeout ?? 0) s (ConnectTimeout)") }
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
            if soError != 0 { throw ConnectAttemptError(reason: String(cString: strerror(soError))) }
        }
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        ok = true
        return fd
    }
}
