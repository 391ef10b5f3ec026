import Foundation

/// `ftptunnel connect` in rewrite mode (the default: no --mode, no --passive-ports unless given), with its own HOME.
public final class RewriteTunnelProcess: @unchecked Sendable {
    public let process: ManagedProcess
    public let localPort: Int
    public let home: TempDirectory

    public init(sshd: SSHDFixture, knownHosts: String, ftpHost: String = LoopbackNet.serverSide, ftpPort: Int,
                extraArguments: [String] = []) throws {
        home = try TempDirectory("rewrite-home")
        localPort = try LoopbackNet.freePort(on: LoopbackNet.clientSide)
        let arguments = [
            "connect", "\(sshd.user)@\(sshd.host):\(sshd.port)", "--ftp-host", ftpHost, "--ftp-port", "\(ftpPort)",
            "--local-port", "\(localPort)", "--known-hosts", knownHosts, "-i", sshd.userKey, "-v",
        ] + extraArguments
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home.path
        env["FTPTUNNEL_SSH_CONFIG"] = "none"
        for key in ["SSH_AUTH_SOCK", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE"] { env.removeValue(forKey: key) }
        process = try ManagedProcess(try Products.ftptunnel, arguments, environment: env)
        try process.waitForOutput(containing: "ready", seconds: 30)
    }

    public var url: String { "ftp://\(LoopbackNet.clientSide):\(localPort)" }
    public var output: String { process.output }
    public var pid: pid_t { process.pid }
    public func stop() { process.stop() }
    deinit { stop() }
}

/// pyftpdlib on 127.0.0.2, anonymous with write permission (uploads into `root/upload`), advertising its own
/// address (127.0.0.2) like a stock server. `misadvertiseFirstPASV` makes the first PASV reply name 127.0.0.3,
/// where nothing listens (a server whose data port cannot be reached), and data connections time out quickly;
/// `refuseEPSV` answers EPSV with 500 (so active-mode conversions fall back to PASV).
public final class PyftpdlibFixture: @unchecked Sendable {
    public let host = LoopbackNet.serverSide
    public let port: Int
    public let passivePorts: ClosedRange<Int>
    private let process: ManagedProcess

    public init(root: String, misadvertiseFirstPASV: Bool = false, refuseEPSV: Bool = false) throws {
        port = try LoopbackNet.freePort(on: host)
        passivePorts = try LoopbackNet.freePortRange(count: 40)
        let upload = "\(root)/upload"
        try FileManager.default.createDirectory(atPath: upload, withIntermediateDirectories: true)
        let script = """
        import sys
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler, PassiveDTP
        from pyftpdlib.servers import FTPServer
        import logging
        logging.basicConfig(level=logging.WARNING)
        class Handler(FTPHandler):
            pasv_count = 0
            def ftp_PASV(self, line):
                Handler.pasv_count += 1
                if sys.argv[5] == "1":
                    self.masquerade_address = "127.0.0.3" if Handler.pasv_count == 1 else None
                return FTPHandler.ftp_PASV(self, line)
            def ftp_EPSV(self, line):
                if sys.argv[7] == "1":
                    return self.respond("500 EPSV not understood.")
                return FTPHandler.ftp_EPSV(self, line)
        if sys.argv[5] == "1": PassiveDTP.timeout = 3
        a = DummyAuthorizer(); a.add_anonymous(sys.argv[1], perm='elradfmw')
        Handler.authorizer = a
        Handler.passive_ports = range(int(sys.argv[3]), int(sys.argv[4]) + 1)
        Handler.permit_foreign_addresses = False
        server = FTPServer((sys.argv[2], int(sys.argv[6])), Handler)
        server.max_cons = 256
        server.serve_forever()
        """
        process = try ManagedProcess("/usr/bin/python3", [
            "-c", script, root, host, "\(passivePorts.lowerBound)", "\(passivePorts.upperBound)",
            misadvertiseFirstPASV ? "1" : "0", "\(port)", refuseEPSV ? "1" : "0",
        ])
        try LoopbackNet.waitForGreeting(host, port, prefix: "220")
    }

    public var log: String { process.output }
    public func stop() { process.stop() }
    deinit { stop() }
}

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

    private static func ipv4(_ hex: Substring) -> String {
        guard let ip = UInt32(hex, radix: 16) else { return String(hex) }
        return "\(ip & 0xff).\((ip >> 8) & 0xff).\((ip >> 16) & 0xff).\(ip >> 24)"
    }

    /// Ports only (for comparisons that ignore the address family).
    public static func listeningPorts(_ pid: pid_t) -> [Int] {
        listening(pid).compactMap { Int($0.split(separator: ":").last ?? "") }
    }
}
