import Foundation

/// Busy-loop processes that contest every core for a stress test's duration (load shaping, not synchronisation).
public final class CPUContention: @unchecked Sendable {
    private let hogs: [ManagedProcess]

    public init(processes: Int = 2) throws {
        hogs = try (0..<processes).map { _ in try ManagedProcess("/bin/sh", ["-c", "while :; do :; done"]) }
    }

    public func stop() { hogs.forEach { $0.killTree() } }
    deinit { stop() }
}

/// One `curl` download running in the background, with its output file and exit status.
public final class BackgroundDownload: @unchecked Sendable {
    public let name: String
    public let output: String
    public let process: ManagedProcess

    public init(name: String, url: String, output: String, flags: [String], seconds: Int) throws {
        self.name = name
        self.output = output
        process = try ManagedProcess(try which("curl"), ["-sS", "--max-time", "\(seconds)", "--connect-timeout", "10"]
                                        + flags + [url, "-o", output])
    }

    public var bytesReceived: Int { max(0, TestFiles.size(output)) }
    public var isRunning: Bool { process.isRunning }
    /// curl's exit status once it has exited.
    public func status() throws -> Int32 { try process.waitForExit(seconds: 5) }
}

/// The processes of a forking FTP server (vsftpd) that have a file open, found through /proc/PID/fd.
public enum OpenFiles {
    public static func processes(under root: pid_t, holding path: String) -> [pid_t] {
        // /proc shows canonical paths; ours may hold `//` or symbolic links.
        let path = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        return ProcessTree.descendants(of: root).filter { pid in
            let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
            return fds.contains { (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) == path }
        }
    }
}
