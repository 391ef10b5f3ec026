import Foundation

/// What one process holds: open fds and the ports of its listening TCP sockets (IPv4 and IPv6).
public enum ProcessSockets {
    public static func fdCount(_ pid: pid_t) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []).count
    }

    /// "ip:port" of every listening TCP socket the process holds.
    public static func listening(_ pid: pid_t) -> [String] {
        let fdDirectory = "/proc/\(pid)/fd"
        let inodes = Set(((try? FileManager.default.contentsOfDirectory(atPath: fdDirectory)) ?? []).compactMap { fd -> String? in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDirectory)/\(fd)"),
                  target.hasPrefix("socket:[") else { return nil }
            return String(target.dropFirst("socket:[".count).dropLast())
        })
        var result: [String] = []
        for (table, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
            guard let text = readProcFile(table) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 9, fields[3] == "0A", inodes.contains(String(fields[9])) else { continue }
                let parts = fields[1].split(separator: ":")
                guard parts.count == 2, let port = Int(parts[1], radix: 16) else { continue }
                result.append(v6 ? "[\(parts[0])]:\(port)" : "\(ipv4(parts[0])):\(port)")
            }
        }
        return result.sorted()
    }

    /// /proc files report size 0; String(contentsOfFile:) reads only their first page.
    static func readProcFile(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        return String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
    }

    static func ipv4(_ hex: Substring) -> String {
        guard let ip = UInt32(hex, radix: 16) else { return String(hex) }
        return "\(ip & 0xff).\((ip >> 8) & 0xff).\((ip >> 16) & 0xff).\(ip >> 24)"
    }

    /// "ip:port" of every listening TCP socket held by `pid` or any of its descendants (a server with worker
    /// processes, such as pasvd's per-session workers).
    public static func listeningInTree(_ pid: pid_t) -> [String] {
        ([pid] + ProcessTree.descendants(of: pid)).flatMap(listening).sorted()
    }

    /// Ports only (for comparisons that ignore the address family).
    public static func listeningPorts(_ pid: pid_t) -> [Int] {
        listening(pid).compactMap { Int($0.split(separator: ":").last ?? "") }
    }
}

extension ProcessSockets {
    /// Established TCP connections (IPv4) whose local end is `host` on a port inside `ports`: e.g. a server's data
    /// connections on its passive range, whoever holds them.
    public static func establishedCount(localHost host: String, ports: ClosedRange<Int>) -> Int {
        guard let text = readProcFile("/proc/net/tcp") else { return 0 }
        var count = 0
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 3, fields[3] == "01" else { continue }
            let parts = fields[1].split(separator: ":")
            guard parts.count == 2, let port = Int(parts[1], radix: 16), ports.contains(port),
                  ipv4(parts[0]) == host else { continue }
            count += 1
        }
        return count
    }
}

extension ProcessSockets {
    /// Remote ports of the established IPv4 TCP connections held by `pid` or any of its descendants (e.g. which
    /// client connection an sshd session process serves).
    public static func connectedRemotePorts(_ pid: pid_t) -> Set<Int> {
        var inodes = Set<String>()
        for process in [pid] + ProcessTree.descendants(of: pid) {
            let fdDirectory = "/proc/\(process)/fd"
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: fdDirectory)) ?? [] {
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDirectory)/\(fd)"),
                      target.hasPrefix("socket:[") else { continue }
                inodes.insert(String(target.dropFirst("socket:[".count).dropLast()))
            }
        }
        guard let text = readProcFile("/proc/net/tcp") else { return [] }
        var ports = Set<Int>()
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 9, fields[3] == "01", inodes.contains(String(fields[9])) else { continue }
            let remote = fields[2].split(separator: ":")
            if remote.count == 2, let port = Int(remote[1], radix: 16) { ports.insert(port) }
        }
        return ports
    }
}

extension ProcessSockets {
    /// Bytes waiting to be sent or acknowledged on each established IPv4 TCP socket whose local end is `host` on a port
    /// inside `ports` (e.g. a server's data connections: more than 0 while its peer does not take what it sends).
    public static func sendQueues(localHost host: String, ports: ClosedRange<Int>) -> [Int] {
        guard let text = readProcFile("/proc/net/tcp") else { return [] }
        var queues: [Int] = []
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            guard fields.count > 4, fields[3] == "01" else { continue }
            let local = fields[1].split(separator: ":")
            guard local.count == 2, let port = Int(local[1], radix: 16), ports.contains(port), ipv4(local[0]) == host else { continue }
            let counts = fields[4].split(separator: ":")
            queues.append(counts.count == 2 ? Int(counts[0], radix: 16) ?? 0 : 0)
        }
        return queues
    }
}
