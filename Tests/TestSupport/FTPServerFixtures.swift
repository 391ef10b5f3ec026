import Foundation

/// The real pasvd binary on the server side of the loopback topology (127.0.0.2).
public final class PasvdFixture: @unchecked Sendable {
    public let host: String
    public let port: Int
    public let passivePorts: ClosedRange<Int>
    public let root: String
    public let process: ManagedProcess

    /// Starts `pasvd --root ROOT --listen HOST --port P --pasv-ports LO-HI` plus `extraArguments`.
    /// Sessions keep the test runner's identity (`--anonymous-account`/`--user-account` RUNNER, which pasvd
    /// requires to be named when it is root) unless `extraArguments` names accounts: tests create and inspect
    /// the served files as the runner. Account switching has its own tests with real accounts
    /// (`runnerAccounts: false` leaves both options to `extraArguments`).
    public init(root: String, host: String = LoopbackNet.serverSide, passivePortCount: Int = 10,
                extraArguments: [String] = [], runnerAccounts: Bool = true) throws {
        self.host = host
        self.root = root
        port = try LoopbackNet.freePort(on: host)
        passivePorts = try LoopbackNet.freePortRange(count: passivePortCount)
        var accounts: [String] = []
        for option in ["--anonymous-account", "--user-account"] where runnerAccounts && !extraArguments.contains(option) {
            accounts += [option, PasvdFixture.runnerAccount]
        }
        process = try ManagedProcess(try Products.pasvd, [
            "--root", root, "--listen", host, "--port", "\(port)",
            "--pasv-ports", "\(passivePorts.lowerBound)-\(passivePorts.upperBound)",
        ] + accounts + extraArguments)
        try LoopbackNet.waitForGreeting(host, port, prefix: "220")
    }

    public var url: String { "ftp://\(host):\(port)" }
    public func stop() { process.stop() }
    deinit { stop() }

    /// The account the tests run as (root in CI).
    public static var runnerAccount: String {
        guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return "root" }
        return String(cString: name)
    }
}

/// A stock vsftpd (the third-party server) on 127.0.0.2, anonymous, optionally writable.
public final class VsftpdFixture: @unchecked Sendable {
    public let host: String
    public let port: Int
    public let passivePorts: ClosedRange<Int>
    public let root: String
    private let directory: TempDirectory
    private let process: ManagedProcess

    /// - Parameters:
    ///   - pasvAddress: `127.0.0.1` reproduces the recipe; nil leaves vsftpd stock (it advertises 127.0.0.2).
    ///   - writable: anonymous uploads into `root/upload` (vsftpd refuses a writable anonymous root).
    public init(root: String, host: String = LoopbackNet.serverSide, pasvAddress: String? = nil,
                passivePortCount: Int = 10, writable: Bool = false) throws {
        self.host = host
        self.root = root
        directory = try TempDirectory("vsftpd")
        port = try LoopbackNet.freePort(on: host)
        passivePorts = try LoopbackNet.freePortRange(count: passivePortCount)
        let empty = try directory.makeDirectory("empty")
        var lines = [
            "listen=YES", "listen_ipv6=NO", "listen_address=\(host)", "listen_port=\(port)",
            "anonymous_enable=YES", "local_enable=NO", "anon_root=\(root)", "no_anon_password=YES",
            "pasv_enable=YES", "pasv_min_port=\(passivePorts.lowerBound)", "pasv_max_port=\(passivePorts.upperBound)",
            "port_enable=YES", "connect_from_port_20=NO",
            "seccomp_sandbox=NO", "background=NO", "secure_chroot_dir=\(empty)",
            "run_as_launching_user=YES", "xferlog_enable=NO", "dual_log_enable=NO", "syslog_enable=NO",
            "vsftpd_log_file=\(directory.file("vsftpd.log"))", "use_localtime=NO",
            "pasv_promiscuous=NO", "max_clients=200", "max_per_ip=200",
        ]
        if let pasvAddress { lines.append("pasv_address=\(pasvAddress)") }
        if writable {
            lines += ["write_enable=YES", "anon_upload_enable=YES", "anon_mkdir_write_enable=YES",
                      "anon_other_write_enable=YES", "anon_umask=022"]
            let upload = "\(root)/upload"
            try FileManager.default.createDirectory(atPath: upload, withIntermediateDirectories: true)
            chmod(upload, 0o777)
        }
        chmod(root, 0o755)
        let config = try directory.write("vsftpd.conf", lines.joined(separator: "\n") + "\n", mode: 0o600)
        process = try ManagedProcess(try which("vsftpd"), [config])
        try LoopbackNet.waitForGreeting(host, port, prefix: "220")
    }

    public var url: String { "ftp://\(host):\(port)" }
    /// The listening vsftpd; each control connection is served by processes it forks (its descendants).
    public var pid: pid_t { process.pid }
    public func stop() { process.stop() }
    deinit { stop() }
}
