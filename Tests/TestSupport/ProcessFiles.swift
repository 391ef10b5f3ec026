import Foundation

/// What a process tree holds open and costs, read from /proc (for tests of servers that leave no names behind,
/// such as O_TMPFILE uploads, and of per-session worker processes).
public enum ProcessFiles {
    /// Sizes of the open regular files of `pid` and its descendants that have no name (unlinked or O_TMPFILE).
    public static func unnamedFileSizes(_ pid: pid_t) -> [Int] {
        var sizes: [Int] = []
        for process in [pid] + ProcessTree.descendants(of: pid) {
            let directory = "/proc/\(process)/fd"
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
                let link = "\(directory)/\(fd)"
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: link),
                      target.hasPrefix("/"), target.hasSuffix(" (deleted)") else { continue }
                var info = stat()
                if stat(link, &info) == 0, info.st_mode & S_IFMT == S_IFREG { sizes.append(Int(info.st_size)) }
            }
        }
        return sizes
    }

    /// A field of /proc/PID/status in KiB (`VmRSS`), nil when the process is gone.
    public static func statusKiB(_ pid: pid_t, _ field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        let line = text.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }

    /// A field of /proc/PID/smaps_rollup in KiB (`Rss`, `Pss`), nil when the process is gone.
    public static func rollupKiB(_ pid: pid_t, _ field: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/smaps_rollup", encoding: .utf8) else { return nil }
        let line = text.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "")
    }

    /// User plus system CPU time of `pid` in clock ticks (/proc/PID/stat fields 14 and 15), nil when gone.
    public static func cpuTicks(_ pid: pid_t) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3, so utime (14) and stime (15) are at offsets 11 and 12.
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return user + system
    }
}
