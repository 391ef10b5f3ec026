import Foundation

/// A private OpenSSH sshd on loopback with generated host keys (ed25519 unless `Options.hostKeyTypes` says
/// otherwise) and an ed25519 user key.
/// The client logs in as the current user with `userKey`; `knownHostsLine` is what a trusting client has.
public final class SSHDFixture: @unchecked Sendable {
    public struct Options: Sendable {
        public var allowTcpForwarding = true
        public var passwordAuthentication = false
        public var kbdInteractiveAuthentication = false
        public var listenAddress = "127.0.0.1"
        /// Extra sshd_config lines.
        public var extraConfig: [String] = []
        /// `ssh-keygen -t` types of the host keys, one `HostKey` line each; the first is `hostKey`.
        public var hostKeyTypes = ["ed25519"]
        /// sshd's LogLevel (DEBUG1 logs each direct-tcpip request with its target: a bastion's proof of carrying).
        public var logLevel = "VERBOSE"
        public init() {}
    }

    public let directory: TempDirectory
    public let port: Int
    public let host: String
    public let userKey: String
    public let hostKey: String
    /// Every host key's private key file, in `Options.hostKeyTypes` order (public key: path + ".pub").
    public let hostKeys: [String]
    public let user: String
    private var process: ManagedProcess?
    private var configPath = ""

    public init(_ options: Options = Options()) throws {
        directory = try TempDirectory("sshd")
        host = options.listenAddress
        user = ProcessInfo.processInfo.environment["USER"].flatMap { $0.isEmpty ? nil : $0 } ?? "root"
        let keyDirectory = directory
        hostKeys = options.hostKeyTypes.map { keyDirectory.file("ssh_host_\($0)_key") }
        hostKey = hostKeys[0]
        userKey = directory.file("id_ed25519")
        for (type, path) in zip(options.hostKeyTypes, hostKeys) {
            try runChecked("ssh-keygen", ["-q", "-t", type, "-N", "", "-f", path])
        }
        try runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "ftptunnel-test", "-f", userKey])
        try FileManager.default.copyItem(atPath: userKey + ".pub", toPath: directory.file("authorized_keys"))
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        port = try LoopbackNet.freePort(on: host)
        let yesNo = { (flag: Bool) in flag ? "yes" : "no" }
        let config = ([
            "ListenAddress \(host)",
            "Port \(port)",
        ] + hostKeys.map { "HostKey \($0)" } + [
            "AuthorizedKeysFile \(directory.file("authorized_keys"))",
            "PidFile \(directory.file("sshd.pid"))",
            "StrictModes no",
            "UsePAM no",
            "PermitRootLogin yes",
            "PubkeyAuthentication yes",
            "PasswordAuthentication \(yesNo(options.passwordAuthentication))",
            "KbdInteractiveAuthentication \(yesNo(options.kbdInteractiveAuthentication))",
            "AllowTcpForwarding \(yesNo(options.allowTcpForwarding))",
            "LogLevel \(options.logLevel)",
            // Commands sshd runs through the account's shell (a wrapper subsystem) must not source ~/.bashrc:
            // Debian's bash does for a top-level shell started by sshd, and a test that kills session processes
            // can stop a start-up script mid-way (a pyenv rehash left its lock behind, and every later subsystem
            // start waited 60 s for it). A shell level of 2 is not top-level.
            "SetEnv SHLVL=1",
        ] + options.extraConfig).joined(separator: "\n") + "\n"
        configPath = try directory.write("sshd_config", config, mode: 0o600)
        try start()
    }

    private func start() throws {
        process = try ManagedProcess(try which("sshd"), ["-D", "-e", "-f", configPath])
        try LoopbackNet.waitForGreeting(host, port, prefix: "SSH-2.0-")
    }

    /// Starts sshd again on the same port after `kill()`: with the same host key (a server that came back), or
    /// with a newly generated one (another machine answering at that address).
    public func restart(withNewHostKey: Bool = false) throws {
        process?.killTree()
        if withNewHostKey {
            try? FileManager.default.removeItem(atPath: hostKey)
            try? FileManager.default.removeItem(atPath: hostKey + ".pub")
            try runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey])
        }
        try start()
    }

    /// SIGKILLs one session process and everything below it: sshd's post-authentication child holds the connection
    /// too, and outlives its killed monitor until it next needs it (tens of seconds), so killing the monitor alone
    /// does not end the session at once.
    public func killSession(_ pid: pid_t) {
        for victim in [pid] + ProcessTree.descendants(of: pid) { Glibc.kill(victim, SIGKILL) }
    }

    /// Ends every SSH session (`killSession` on each); sshd still listens. Returns how many there were.
    @discardableResult
    public func killSessions() -> Int {
        let victims = sessionProcesses
        for pid in victims { killSession(pid) }
        return victims.count
    }

    /// The per-connection sshd processes (direct children of the listening sshd), oldest first: one per SSH
    /// session, each the parent of that session's other processes.
    public var sessionProcesses: [pid_t] {
        guard let pid = process?.pid else { return [] }
        let all = ProcessTree.descendants(of: pid)
        return all.filter { child in ProcessTree.parent(of: child) == pid }.sorted()
    }

    /// The host's (first) public key line (`ssh-ed25519 AAAA…`).
    public var hostPublicKey: String { Self.publicKey(of: hostKey) }

    /// `TYPE BASE64` of the public half of the private key file `path` (`path.pub`).
    public static func publicKey(of path: String) -> String {
        ((try? String(contentsOfFile: path + ".pub", encoding: .utf8)) ?? "")
            .split(separator: " ").prefix(2).joined(separator: " ")
    }

    /// `SHA256:…` of the public half of the key file `path`, as `ssh-keygen -l` prints it.
    public static func fingerprint(of path: String) throws -> String {
        String(try runChecked("ssh-keygen", ["-l", "-f", path + ".pub"]).stdout.split(separator: " ")[1])
    }

    /// Lets `key` (a private key file; its `.pub` is read) log in as well.
    public func authorize(_ key: String) throws {
        let line = try String(contentsOfFile: key + ".pub", encoding: .utf8)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory.file("authorized_keys")))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(line.utf8))
    }

    /// A known_hosts line trusting this server (`[127.0.0.1]:PORT ssh-ed25519 …`).
    public var knownHostsLine: String { "[\(host)]:\(port) \(hostPublicKey)" }

    /// Writes a known_hosts file trusting this server and returns its path.
    public func writeKnownHosts(in dir: TempDirectory, name: String = "known_hosts") throws -> String {
        try dir.write(name, knownHostsLine + "\n", mode: 0o600)
    }

    /// sshd's log so far (connections, refused forwards, auth results).
    public var log: String { process?.output ?? "" }

    /// sshd's "Accepted publickey/password/… for USER" lines so far: one per authenticated SSH session
    /// (sshd ends its log lines with CRLF, one grapheme for Swift: split on any newline).
    public var authenticatedSessions: Int {
        log.split(whereSeparator: \.isNewline).filter { $0.contains("Accepted ") && $0.contains(" for ") }.count
    }

    public var isRunning: Bool { process?.isRunning ?? false }

    /// Kills sshd and every process it forked (the per-connection ones, which leave its process group),
    /// as a crash would.
    public func kill() {
        process?.killTree()
    }

    public func stop() { process?.stop() }

    deinit { stop() }
}
