import Foundation

/// A blocking TCP connection to a numeric address where every operation has a deadline, for `ftptunnel check`.
/// Writes never raise SIGPIPE (MSG_NOSIGNAL).
final class ProbeSocket {
    let fd: Int32
    let host: String
    let port: Int

    /// Bytes read per `recv` call.
    static let readChunk = 64 * 1024

    /// Connects within `timeout` seconds.
    init(host: String, port: Int, timeout: Double) throws {
        self.host = host
        self.port = port
        let deadline = ProbeDeadline(seconds: timeout)
        var storage = sockaddr_storage()
        let length: socklen_t
        let family: Int32
        if host.contains(":") {
            var v6 = sockaddr_in6()
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(clamping: port).bigEndian)
            guard inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 else { throw FTPProbeError.notNumeric(host) }
            withUnsafeBytes(of: v6) { bytes in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: bytes) } }
            (length, family) = (socklen_t(MemoryLayout<sockaddr_in6>.size), AF_INET6)
        } else {
            var v4 = sockaddr_in()
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(clamping: port).bigEndian)
            guard inet_pton(AF_INET, host, &v4.sin_addr) == 1 else { throw FTPProbeError.notNumeric(host) }
            withUnsafeBytes(of: v4) { bytes in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: bytes) } }
            (length, family) = (socklen_t(MemoryLayout<sockaddr_in>.size), AF_INET)
        }
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw FTPProbeError.connectFailed(host: host, port: port, reason: String(cString: strerror(errno))) }
        self.fd = fd
        let rc = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        if rc != 0 {
            guard errno == EINPROGRESS else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw FTPProbeError.connectFailed(host: host, port: port, reason: reason)
            }
            guard try Self.wait(fd, for: Int16(POLLOUT), until: deadline) else {
                close(fd)
                throw FTPProbeError.timedOut("connecting to \(host):\(port)")
            }
            var error: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size)
            if error != 0 {
                close(fd)
                throw FTPProbeError.connectFailed(host: host, port: port, reason: String(cString: strerror(error)))
            }
        }
    }

    deinit { close(fd) }

    /// Sends every byte before the deadline.
    func send(_ bytes: [UInt8], timeout: Double) throws {
        let deadline = ProbeDeadline(seconds: timeout)
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { offset += n; continue }
            if n < 0 && errno == EINTR { continue }
            guard n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) else {
                throw FTPProbeError.connectionLost("sending to \(host):\(port): \(String(cString: strerror(errno)))")
            }
            guard try Self.wait(fd, for: Int16(POLLOUT), until: deadline) else { throw FTPProbeError.timedOut("sending to \(host):\(port)") }
        }
    }

    /// Up to `readChunk` bytes; empty at end of stream. Throws when nothing arrives before the deadline.
    func receive(until deadline: ProbeDeadline, what: @autoclosure () -> String) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: Self.readChunk)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n >= 0 { return Array(buffer[0..<n]) }
            if errno == EINTR { continue }
            guard errno == EAGAIN || errno == EWOULDBLOCK else {
                throw FTPProbeError.connectionLost("\(what()): \(String(cString: strerror(errno)))")
            }
            guard try Self.wait(fd, for: Int16(POLLIN), until: deadline) else { throw FTPProbeError.timedOut(what()) }
        }
    }

    /// Reads until the peer closes, keeping at most `limit` bytes (the rest is counted, not kept).
    func readToEnd(timeout: Double, limit: Int, what: String) throws -> (kept: [UInt8], total: Int) {
        let deadline = ProbeDeadline(seconds: timeout)
        var kept: [UInt8] = []
        var total = 0
        while true {
            let chunk = try receive(until: deadline, what: what)
            if chunk.isEmpty { return (kept, total) }
            total += chunk.count
            if kept.count < limit { kept += chunk.prefix(limit - kept.count) }
        }
    }

    /// Polls for `events`; false when the deadline passed first.
    private static func wait(_ fd: Int32, for events: Int16, until deadline: ProbeDeadline) throws -> Bool {
        while true {
            let remaining = deadline.remainingMilliseconds
            if remaining <= 0 { return false }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let rc = poll(&entry, 1, remaining)
            if rc > 0 { return true }
            if rc == 0 { return false }
            if errno != EINTR { throw FTPProbeError.connectionLost("poll: \(String(cString: strerror(errno)))") }
        }
    }
}

/// A point in time on the monotonic clock.
struct ProbeDeadline {
    let end: UInt64

    init(seconds: Double) {
        end = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, seconds) * 1_000_000_000)
    }

    var remainingMilliseconds: Int32 {
        let now = DispatchTime.now().uptimeNanoseconds
        guard end > now else { return 0 }
        return Int32(clamping: (end - now + 999_999) / 1_000_000)
    }
}
