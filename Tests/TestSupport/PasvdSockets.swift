import Foundation

/// The listening TCP sockets of one process, from /proc/PID/fd and /proc/net/tcp{,6}.
public enum PasvdSockets {
    /// "ip:port" of every listening IPv4 socket the process holds; IPv6 ones as "[v6]:port".
    public static func listening(pid: pid_t) -> [String] {
        let fdDirectory = "/proc/\(pid)/fd"
        let inodes = Set(((try? FileManager.default.contentsOfDirectory(atPath: fdDirectory)) ?? []).compactMap { fd -> String? in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(fdDirectory)/\(fd)"),
                  target.hasPrefix("socket:[") else { return nil }
            return String(target.dropFirst("socket:[".count).dropLast())
        })
        var result: [String] = []
        for (table, isV6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: " ")
                guard fields.count > 9, fields[3] == "0A", inodes.contains(String(fields[9])) else { continue }
                let parts = fields[1].split(separator: ":")
                guard parts.count == 2, let port = Int(parts[1], radix: 16) else { continue }
                if isV6 {
                    result.append("[v6 \(parts[0])]:\(port)")
                } else if let ip = UInt32(parts[0], radix: 16) {
                    result.append("\(ip & 0xff).\((ip >> 8) & 0xff).\((ip >> 16) & 0xff).\(ip >> 24):\(port)")
                }
            }
        }
        return result
    }
}
