import Foundation

/// Loopback addressing for tests: the server side lives on 127.0.0.2, the client side on 127.0.0.1.
public enum LoopbackNet {
    public static let serverSide = "127.0.0.2"
    public static let clientSide = "127.0.0.1"

    /// A port that is free on `host` right now (bind to 0, read it back, close).
    public static func freePort(on host: String = "127.0.0.1") throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        defer { close(fd) }
        var address = try socketAddress(host, 0)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EADDRINUSE) }
        var bound = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &bound) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: bound.sin_port))
    }

    /// `count` consecutive ports free on every host in `hosts` (for PASV ranges).
    public static func freePortRange(count: Int, on hosts: [String] = [serverSide, clientSide]) throws -> ClosedRange<Int> {
        for _ in 0..<200 {
            // Below the kernel's ephemeral range (32768-60999), so no outgoing connection can take a chosen port.
            let start = Int.random(in: 20000...(32700 - count))
            let range = start...(start + count - 1)
            if range.allSatisfy({ port in hosts.allSatisfy { isFree(port: port, on: $0) } }) { return range }
        }
        throw POSIXError(.EADDRINUSE)
    }

    public static func isFree(port: Int, on host: String) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard var address = try? socketAddress(host, port) else { return false }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// Connects to host:port (from the loopback address `source` when given, so one machine plays many client
    /// addresses); returns the connected fd or nil.
    public static func connect(_ host: String, _ port: Int, from source: String? = nil) -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0, var address = try? socketAddress(host, port) else { return nil }
        if let source {
            guard var local = try? socketAddress(source, 0), withUnsafePointer(to: &local, {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }) == 0 else { close(fd); return nil }
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if rc != 0 { close(fd); return nil }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// True when something accepts connections on host:port.
    public static func isListening(_ host: String, _ port: Int) -> Bool {
        guard let fd = connect(host, port) else { return false }
        close(fd)
        return true
    }

    /// Waits until host:port greets with a line starting with `prefix` (`SSH-2.0-`, `220`).
    public static func waitForGreeting(_ host: String, _ port: Int, prefix: String, seconds: Double = 20) throws {
        try Deadline.wait(for: "\(prefix) greeting on \(host):\(port)", seconds: seconds) {
            guard let fd = connect(host, port) else { return false }
            defer { close(fd) }
            var buffer = [UInt8](repeating: 0, count: 256)
            let n = read(fd, &buffer, buffer.count)
            return n > 0 && String(decoding: buffer[0..<n], as: UTF8.self).hasPrefix(prefix)
        }
    }

    /// Listening TCP sockets (from /proc/net/tcp) as "ip:port" strings, e.g. "127.0.0.1:2121".
    public static func listeningSockets() -> [String] {
        guard let table = ProcessSockets.readProcFile("/proc/net/tcp") else { return [] }
        return table.split(separator: "\n").dropFirst().compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 3, fields[3] == "0A" else { return nil }
            let parts = fields[1].split(separator: ":")
            guard parts.count == 2, let ip = UInt32(parts[0], radix: 16), let port = Int(parts[1], radix: 16) else { return nil }
            let a = ip & 0xff, b = (ip >> 8) & 0xff, c = (ip >> 16) & 0xff, d = ip >> 24
            return "\(a).\(b).\(c).\(d):\(port)"
        }
    }

    static func socketAddress(_ host: String, _ port: Int) throws -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { throw POSIXError(.EINVAL) }
        return address
    }
}
