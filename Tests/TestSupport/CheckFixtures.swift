import Foundation

/// `ftptunnel check` runs against a real sshd: a HOME of its own, no agent, no askpass unless given.
public enum CheckCommand {
    /// Runs (with `identity`, default the fixture's user key) `ftptunnel check USER@HOST:PORT --known-hosts K -i KEY --ftp-host H --ftp-port P …` to completion.
    public static func run(sshd: SSHDFixture, knownHosts: String, ftpHost: String = LoopbackNet.serverSide,
                           ftpPort: Int, identity: String? = nil, extraArguments: [String] = [],
                           environment: [String: String] = [:], seconds: Double = 120) throws -> CommandResult {
        let home = try TempDirectory("check-home")
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home.path
        env["FTPTUNNEL_SSH_CONFIG"] = "none"
        for key in ["SSH_AUTH_SOCK", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE"] { env.removeValue(forKey: key) }
        for (key, value) in environment { env[key] = value }
        let arguments = [
            "check", "\(sshd.user)@\(sshd.host):\(sshd.port)", "--known-hosts", knownHosts, "-i", identity ?? sshd.userKey,
            "--ftp-host", ftpHost, "--ftp-port", "\(ftpPort)", "-o", "StrictHostKeyChecking=yes",
        ] + extraArguments
        return try runCommand(try Products.ftptunnel, arguments, seconds: seconds, environment: env)
    }
}

/// pyftpdlib on 127.0.0.2 with one password-protected user (no anonymous login); it advertises 127.0.0.2
/// unless `advertise` names another address.
/// The password reaches the server through its environment, not its command line.
public final class PyftpdlibUserFixture: @unchecked Sendable {
    public let host = LoopbackNet.serverSide
    public let port: Int
    public let passivePorts: ClosedRange<Int>
    public let user: String
    private let process: ManagedProcess

    public init(root: String, user: String, password: String, advertise: String? = nil) throws {
        self.user = user
        port = try LoopbackNet.freePort(on: host)
        passivePorts = try LoopbackNet.freePortRange(count: 10)
        let script = """
        import os, sys
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.servers import FTPServer
        a = DummyAuthorizer(); a.add_user(sys.argv[1], os.environ['CHECK_FTP_PASSWORD'], sys.argv[2], perm='elr')
        FTPHandler.authorizer = a
        FTPHandler.passive_ports = range(int(sys.argv[5]), int(sys.argv[6]) + 1)
        if sys.argv[7]: FTPHandler.masquerade_address = sys.argv[7]
        FTPServer((sys.argv[3], int(sys.argv[4])), FTPHandler).serve_forever()
        """
        var env = ProcessInfo.processInfo.environment
        env["CHECK_FTP_PASSWORD"] = password
        process = try ManagedProcess("/usr/bin/python3", [
            "-c", script, user, root, host, "\(port)", "\(passivePorts.lowerBound)", "\(passivePorts.upperBound)", advertise ?? "",
        ], environment: env)
        try LoopbackNet.waitForGreeting(host, port, prefix: "220")
    }

    public var log: String { process.output }
    public func stop() { process.stop() }
    deinit { stop() }
}
