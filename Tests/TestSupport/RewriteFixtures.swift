import Foundation

/// `ftptunnel connect` in rewrite mode (the default: no --mode, no --passive-ports unless given), with its own HOME.
public final class RewriteTunnelProcess: @unchecked Sendable {
    public let process: ManagedProcess
    public let localPort: Int
    public let home: TempDirectory

    /// `verbose`: with -v (connection lines); `environment`: added to the tunnel's (e.g. XDG_RUNTIME_DIR for `status`).
    public init(sshd: SSHDFixture, knownHosts: String, ftpHost: String = LoopbackNet.serverSide, ftpPort: Int,
                extraArguments: [String] = [], verbose: Bool = true, environment: [String: String] = [:]) throws {
        home = try TempDirectory("rewrite-home")
        localPort = try LoopbackNet.freePort(on: LoopbackNet.clientSide)
        let arguments = [
            "connect", "\(sshd.user)@\(sshd.host):\(sshd.port)", "--ftp-host", ftpHost, "--ftp-port", "\(ftpPort)",
            "--local-port", "\(localPort)", "--known-hosts", knownHosts, "-i", sshd.userKey,
        ] + (verbose ? ["-v"] : []) + extraArguments
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home.path
        env["FTPTUNNEL_SSH_CONFIG"] = "none"
        for key in ["SSH_AUTH_SOCK", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE"] { env.removeValue(forKey: key) }
        for (key, value) in environment { env[key] = value }
        process = try ManagedProcess(try Products.ftptunnel, arguments, environment: env)
        try process.waitForOutput(containing: "ftptunnel: ready —", seconds: 30)
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
/// `refuseEPSV` answers EPSV with 500 (so active-mode conversions fall back to PASV); `firstPASVPort` makes the
/// first PASV reply name that port on 127.0.0.2 without listening there (e.g. a black-holed port).
public final class PyftpdlibFixture: @unchecked Sendable {
    public let host = LoopbackNet.serverSide
    public let port: Int
    public let passivePorts: ClosedRange<Int>
    private let process: ManagedProcess

    public init(root: String, misadvertiseFirstPASV: Bool = false, refuseEPSV: Bool = false, firstPASVPort: Int? = nil) throws {
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
                if Handler.pasv_count == 1 and sys.argv[8] != "0":
                    port = int(sys.argv[8])
                    return self.respond("227 Entering Passive Mode (127,0,0,2,%d,%d)." % (port >> 8, port & 255))
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
            misadvertiseFirstPASV ? "1" : "0", "\(port)", refuseEPSV ? "1" : "0", "\(firstPASVPort ?? 0)",
        ])
        try LoopbackNet.waitForGreeting(host, port, prefix: "220")
    }

    public var log: String { process.output }
    public func stop() { process.stop() }
    deinit { stop() }
}

