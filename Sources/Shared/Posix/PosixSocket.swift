import CPosix
#if canImport(Glibc)
import Glibc
#endif

/// Socket system calls through the `Posix` choke point. Descriptors are plain `Int32`s owned by the caller.
public enum PosixSocket {
    /// A TCP socket, close-on-exec, non-blocking when asked.
    public static func tcp(_ family: SocketAddress.Family, nonBlocking: Bool) throws(PosixError) -> Int32 {
        var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        return try Posix.callBlocking("socket") { socket(family == .ipv6 ? AF_INET6 : AF_INET, type, 0) }
    }

    /// A socket bound to `address` (SO_REUSEADDR; IPV6_V6ONLY for IPv6), not yet listening.
    public static func bound(to address: SocketAddress, nonBlocking: Bool) throws(PosixError) -> Int32 {
        let fd = try tcp(address.family, nonBlocking: nonBlocking)
        do throws(PosixError) {
            setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if address.family == .ipv6 { setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) }
            try Posix.callBlocking("bind \(address)") { address.withSockaddr { bind(fd, $0, $1) } }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    public static func listen(_ fd: Int32, backlog: Int32 = SOMAXCONN, on address: SocketAddress) throws(PosixError) {
        try Posix.callBlocking("listen \(address)") { Glibc.listen(fd, backlog) }
    }

    /// accept(2), then close-on-exec (and O_NONBLOCK when asked); `.wouldBlock` when nobody waits. (accept4 is
    /// not visible to Swift without _GNU_SOURCE; no other thread of ours forks/execs between the two calls
    /// without going through posix_spawn, which honours FD_CLOEXEC set before it runs.)
    public static func accept(_ fd: Int32, nonBlocking: Bool) throws(PosixError) -> IOResult<(fd: Int32, peer: SocketAddress?)> {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try Posix.call("accept") {
            withUnsafeMutableBytes(of: &storage) { raw in
                Glibc.accept(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
            }
        }
        switch result {
        case .done(let client):
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            if nonBlocking { setNonBlocking(client) }
            return .done((client, SocketAddress(storage: storage)))
        case .wouldBlock: return .wouldBlock
        }
    }

    /// Starts a connect on a non-blocking socket: `.done` when it completed at once, `.wouldBlock` while in
    /// progress (finish with `connectResult` once poll reports POLLOUT).
    public static func startConnect(_ fd: Int32, to address: SocketAddress) throws(PosixError) -> IOResult<Void> {
        switch try Posix.call("connect \(address)", { address.withSockaddr { Glibc.connect(fd, $0, $1) } }) {
        case .done: return .done(())
        case .wouldBlock: return .wouldBlock
        }
    }

    /// SO_ERROR of a socket whose connect has finished (poll reported POLLOUT/POLLERR): nil when connected.
    public static func connectResult(_ fd: Int32, address: SocketAddress) -> PosixError? {
        let code = pendingError(fd)
        return code == 0 ? nil : PosixError("connect \(address)", code: code)
    }

    /// SO_ERROR (0: none); reading it clears it.
    public static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length)
        return value
    }

    /// The one connect with a deadline: a non-blocking connect, then poll for at most `milliseconds`
    /// (-1: the kernel's own time-out). Returns a connected socket, non-blocking when asked.
    public static func connect(to address: SocketAddress, milliseconds: Int32, nonBlocking: Bool) throws(PosixError) -> Int32 {
        let fd = try tcp(address.family, nonBlocking: true)
        do throws(PosixError) {
            if case .wouldBlock = try startConnect(fd, to: address) {
                guard try PosixPoll.wait(fd, events: Int16(POLLOUT), milliseconds: milliseconds) else {
                    throw PosixError("connect \(address)", code: ETIMEDOUT)
                }
                if let failure = connectResult(fd, address: address) { throw failure }
            }
            if !nonBlocking { setNonBlocking(fd, false) }
            setNoDelay(fd)
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    public static func localAddress(_ fd: Int32) -> SocketAddress? { address(fd, getsockname) }
    public static func peerAddress(_ fd: Int32) -> SocketAddress? { address(fd, getpeername) }

    private static func address(
        _ fd: Int32, _ call: (Int32, UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) -> Int32
    ) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutableBytes(of: &storage) { raw in
            call(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
        return rc == 0 ? SocketAddress(storage: storage) : nil
    }

    public static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var value = value
        setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Bytes sent on a TCP socket that its peer has not acknowledged yet (SIOCOUTQ): what the kernel still holds
    /// for a reader that fell behind. 0 when the socket cannot say.
    public static func unsentBytes(_ fd: Int32) -> Int {
        guard fd >= 0, case .done(let n)? = try? Posix.call("ioctl(SIOCOUTQ)", { cposix_unsent_bytes(fd) }) else { return 0 }
        return Int(n)
    }

    /// SO_LINGER with a zero timeout: the next close(2) resets the connection (RST) instead of ending it with FIN, so
    /// the peer sees an error rather than a clean end of stream, and whatever is still queued is discarded.
    public static func setAbortiveClose(_ fd: Int32) {
        guard fd >= 0 else { return }
        var value = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &value, socklen_t(MemoryLayout<linger>.size))
    }

    /// TCP_USER_TIMEOUT: the connection fails once sent data stays unacknowledged for `milliseconds`.
    public static func setUserTimeout(_ fd: Int32, milliseconds: UInt32) {
        var value = milliseconds
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_USER_TIMEOUT, &value, socklen_t(MemoryLayout<UInt32>.size))
    }

    /// shutdown(2) SHUT_WR: the peer reads end of stream; reading from it goes on.
    public static func shutdownWrite(_ fd: Int32) { _ = Glibc.shutdown(fd, Int32(SHUT_WR)) }

    /// Bytes waiting in the socket to be read (FIONREAD); 0 when the socket cannot say.
    public static func unreadBytes(_ fd: Int32) -> Int {
        var unread: Int32 = 0
        return ioctl(fd, UInt(FIONREAD), &unread) == 0 ? Int(unread) : 0
    }

    /// Milliseconds since the last data segment from the peer reached the socket (TCP_INFO), whoever read it;
    /// nil when the socket cannot say.
    public static func millisecondsSincePeerData(_ fd: Int32) -> UInt32? {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else { return nil }
        return info.tcpi_last_data_recv
    }

    /// recv(2) in the convention of libssh2's transport callbacks: the byte count, or minus errno (read at once).
    public static func receiveForCallback(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ length: Int, _ flags: Int32) -> Int {
        let n = Glibc.recv(fd, buffer, length, flags)
        return n < 0 ? -Int(errno) : n
    }

    public static func setNoDelay(_ fd: Int32) { setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1) }

    /// SO_SNDTIMEO: a blocking send to a peer that stops reading fails after `seconds` instead of hanging.
    public static func setSendTimeout(_ fd: Int32, seconds: Double) {
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int(seconds.truncatingRemainder(dividingBy: 1) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    public static func setNonBlocking(_ fd: Int32, _ on: Bool = true) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK)
    }

    /// read(2): `.done(0)` is end of stream.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(PosixError) -> IOResult<Int> {
        try Posix.call("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// send(2) with MSG_DONTWAIT | MSG_NOSIGNAL: what fits in the socket buffer now, without changing the
    /// descriptor's own blocking mode (which other processes holding the same socket share).
    public static func sendNow(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(PosixError) -> IOResult<Int> {
        try Posix.call("send") { Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
    }

    /// recv(2) with MSG_PEEK: the bytes waiting, left in the socket. `.done(0)` is end of stream.
    public static func peek(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(PosixError) -> IOResult<Int> {
        try Posix.call("recv") { Glibc.recv(fd, buffer.baseAddress, buffer.count, Int32(MSG_PEEK)) }
    }

    /// send(2) with MSG_NOSIGNAL (a closed peer is an EPIPE error, never SIGPIPE).
    public static func send(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(PosixError) -> IOResult<Int> {
        try Posix.call("send") { Glibc.send(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL)) }
    }
}

/// poll(2) through the choke point.
public enum PosixPoll {
    /// Linux POLLRDHUP (the peer closed its sending half), not exported to Swift without _GNU_SOURCE.
    public static let readHangUp: Int16 = 0x2000

    /// poll over `fds`; EINTR counts as "nothing ready yet" (0).
    public static func poll(_ fds: inout [pollfd], milliseconds: Int32) throws(PosixError) -> Int {
        let rc = Glibc.poll(&fds, nfds_t(fds.count), milliseconds)
        if rc >= 0 { return Int(rc) }
        let code = errno
        if code == EINTR { return 0 }
        throw PosixError("poll", code: code)
    }

    /// Waits for `events` on one descriptor; false on time-out. EINTR restarts the wait (for the full time).
    public static func wait(_ fd: Int32, events: Int16, milliseconds: Int32) throws(PosixError) -> Bool {
        var set = [pollfd(fd: fd, events: events, revents: 0)]
        while true {
            let rc = Glibc.poll(&set, 1, milliseconds)
            if rc > 0 { return true }
            if rc == 0 { return false }
            let code = errno
            if code != EINTR { throw PosixError("poll", code: code) }
        }
    }
}
