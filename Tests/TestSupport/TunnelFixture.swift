import Foundation

/// A real `ftptunnel connect` process against an `SSHDFixture`, in fixed mode, with its own HOME (so the
/// developer's ~/.ssh is never read or written) and no ssh-agent unless one is passed in `environment`.
public final class TunnelProcess: @unchecked Sendable {
    public let process: ManagedProcess
    public let localPort: Int
    public let home: TempDirectory

    /// Starts `ftptunnel connect USER@HOST:PORT --mode fixed …` plus `extraArguments`.
    /// - Parameters:
    ///   - identity: identity file passed with `-i` (nil: none, e.g. agent-only tests).
    ///   - waitForReady: wait for the ready line (false for tests expecting failure).
    public init(sshd: SSHDFixture, knownHosts: String?, ftpHost: String = LoopbackNet.serverSide, ftpPort: Int,
                passivePorts: ClosedRange<Int>, identity: String?, extraArguments: [String] = [],
                environment: [String: String] = [:], localPort: Int? = nil, waitForReady: Bool = true,
                user: String? = nil, currentDirectory: String? = nil) throws {
        home = try TempDirectory("tunnel-home")
        self.localPort = try localPort ?? LoopbackNet.freePort(on: LoopbackNet.clientSide)
        var arguments = [
            "connect", "\(user ?? sshd.user)@\(sshd.host):\(sshd.port)", "--mode", "fixed",
            "--ftp-host", ftpHost, "--ftp-port", "\(ftpPort)", "--local-port", "\(self.localPort)",
            "--passive-ports", "\(passivePorts.lowerBound)-\(passivePorts.upperBound)", "-v",
        ]
        if let knownHosts { arguments += ["--known-hosts", knownHosts] }
        if let identity { arguments += ["-i", identity] }
        arguments += extraArguments
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home.path
        env.removeValue(forKey: "SSH_AUTH_SOCK")
        env.removeValue(forKey: "SSH_ASKPASS")
        env.removeValue(forKey: "SSH_ASKPASS_REQUIRE")
        env.removeValue(forKey: "NOTIFY_SOCKET")  // a test's tunnel never reports to the service manager running the tests
        for (key, value) in environment { env[key] = value }
        var attempt = 0
        while true {
            let child = try ManagedProcess(try Products.ftptunnel, arguments, environment: env, currentDirectory: currentDirectory)
            guard waitForReady else { process = child; break }
            do {
                try child.waitForOutput(containing: Self.readyMarker, seconds: 30)
                process = child
                break
            } catch let failure as ProcessFailure where failure.status == Self.bindFailureStatus && attempt < Self.bindAttempts {
                // Test-harness race, not product behaviour: a port chosen free a moment ago was taken meanwhile
                // (often as the ephemeral source port of another test's connection). Start again.
                attempt += 1
            }
        }
    }

    /// The start of the ready line (not just "ready": "already in use" contains it).
    public static let readyMarker = "ftptunnel: ready —"
    static let bindFailureStatus: Int32 = 5
    static let bindAttempts = 5

    public var url: String { "ftp://\(LoopbackNet.clientSide):\(localPort)" }
    public var output: String { process.output }

    public func stop() { process.stop() }
    deinit { stop() }
}

/// The recipe's topology for tunnel tests: a real sshd, vsftpd on 127.0.0.2 advertising 127.0.0.1 in its
/// 227 replies (anonymous, uploads into `upload/`), and a trusting known_hosts file.
/// The recipe's server side behind a private sshd: an FTP server on 127.0.0.2 that advertises 127.0.0.1 in its
/// passive replies, inside a small range, with a writable `upload/` directory.
public final class TunnelRecipe: @unchecked Sendable {
    /// The FTP server of the recipe: vsftpd configured exactly as the manual recipe, or pasvd (which does it by default).
    public enum Server: String, Sendable, CaseIterable, CustomStringConvertible {
        case vsftpd, pasvd
        public var description: String { rawValue }
    }

    public let sshd: SSHDFixture
    public let root: TempDirectory
    public let work: TempDirectory
    public let knownHosts: String
    public let ftpPort: Int
    public let passivePorts: ClosedRange<Int>
    /// Keeps the FTP server running as long as the recipe.
    private let ftpServer: AnyObject

    public init(sshd options: SSHDFixture.Options = .init(), server: Server = .vsftpd) throws {
        sshd = try SSHDFixture(options)
        root = try TempDirectory("vsroot")
        work = try TempDirectory("tunnel-work")
        switch server {
        case .vsftpd:
            let vsftpd = try VsftpdFixture(root: root.path, pasvAddress: "127.0.0.1", writable: true)
            (ftpServer, ftpPort, passivePorts) = (vsftpd, vsftpd.port, vsftpd.passivePorts)
        case .pasvd:
            _ = try root.makeDirectory("upload")
            // Sessions keep the test runner's identity (pasvd switches anonymous sessions to ftp/nobody otherwise,
            // who cannot read this private root).
            let pasvd = try PasvdFixture(root: root.path, extraArguments: ["--anonymous", "--writable", "--pasv-address", "127.0.0.1",
                                                                       "--anonymous-account", PasvdScenario.runnerAccount])
            (ftpServer, ftpPort, passivePorts) = (pasvd, pasvd.port, pasvd.passivePorts)
        }
        knownHosts = try sshd.writeKnownHosts(in: work)
    }

    /// `ftptunnel connect` to this recipe with the fixture's user key.
    public func tunnel(extraArguments: [String] = [], environment: [String: String] = [:]) throws -> TunnelProcess {
        try TunnelProcess(sshd: sshd, knownHosts: knownHosts, ftpPort: ftpPort, passivePorts: passivePorts,
                          identity: sshd.userKey, extraArguments: extraArguments, environment: environment)
    }

    /// What a tunnel that was expected to stop at the host-key check did.
    public struct HostKeyRun {
        public let status: Int32
        public let output: String
        /// The new-host question was asked (the askpass answering "yes" ran).
        public let asked: Bool
        public let localPort: Int
    }

    /// `ftptunnel connect` with `knownHosts` under `StrictHostKeyChecking=policy`, to its end, with an askpass
    /// that answers "yes" and leaves a mark: a question asked before a refusal would be both seen and obeyed.
    public func hostKeyRun(knownHosts file: String, policy: String) throws -> HostKeyRun {
        let answers = try TempDirectory("answers")
        let asked = answers.file("asked")
        let askpass = try answers.write("askpass.sh", "#!/bin/sh\ntouch '\(asked)'\nprintf 'yes\\n'\n", mode: 0o700)
        let tunnel = try TunnelProcess(sshd: sshd, knownHosts: file, ftpPort: ftpPort, passivePorts: passivePorts,
                                       identity: sshd.userKey, extraArguments: ["-o", "StrictHostKeyChecking=\(policy)"],
                                       environment: ["SSH_ASKPASS": askpass, "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"],
                                       waitForReady: false)
        let status = try tunnel.process.waitForExit(seconds: 30)
        return HostKeyRun(status: status, output: tunnel.output, asked: FileManager.default.fileExists(atPath: asked),
                          localPort: tunnel.localPort)
    }
}

/// Large random payloads written by dd from /dev/urandom (fast enough for hundreds of MiB).
public enum TunnelPayload {
    public static func random(at path: String, mebibytes: Int) throws {
        try runChecked("dd", ["if=/dev/urandom", "of=\(path)", "bs=1M", "count=\(mebibytes)", "status=none"], seconds: 300)
    }
}

/// Test-only secret delivery, the OpenSSH way: an SSH_ASKPASS script that prints the secret, forced with
/// SSH_ASKPASS_REQUIRE=force. Secrets never appear on a command line.
public enum TunnelAskpass {
    public static func environment(secret: String, in directory: TempDirectory) throws -> [String: String] {
        let script = try directory.write("askpass.sh", "#!/bin/sh\nprintf '%s\\n' '\(secret)'\n", mode: 0o700)
        return ["SSH_ASKPASS": script, "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"]
    }
}

/// A dedicated local account for password tests (`ftptunnel-test`), created on first use; each call sets a
/// fresh random password with chpasswd and returns it.
public enum TunnelTestUser {
    public static let name = "ftptunnel-test"

    public static func withFreshPassword() throws -> String {
        if (try? runChecked("id", [name])) == nil {
            try runChecked("useradd", ["-m", "-s", "/bin/sh", name])
        }
        let password = (0..<20).map { _ in String("abcdefghijkmnpqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789".randomElement()!) }.joined()
        try runChecked("chpasswd", [], input: "\(name):\(password)\n")
        return password
    }
}

/// `ssh-agent -D -a SOCKET` for the test's lifetime.
public final class TunnelAgent: @unchecked Sendable {
    public let socket: String
    private let directory: TempDirectory
    private let process: ManagedProcess

    public init() throws {
        directory = try TempDirectory("agent")
        socket = directory.file("agent.sock")
        process = try ManagedProcess(try which("ssh-agent"), ["-D", "-a", socket])
        try Deadline.wait(for: "ssh-agent socket") { FileManager.default.fileExists(atPath: socket) }
    }

    public func add(_ key: String) throws {
        var env = ProcessInfo.processInfo.environment
        env["SSH_AUTH_SOCK"] = socket
        try runChecked("ssh-add", [key], environment: env)
    }

    deinit { process.stop() }
}

/// Makes a real server slow: repeatedly SIGSTOPs and SIGCONTs a process and all its descendants, so its socket
/// buffers fill and the peer's sends block mid-packet (load shaping, not synchronisation).
public final class ProcessThrottle: @unchecked Sendable {
    private let rootPID: pid_t
    private let lock = NSLock()
    private var running = true
    private var thread: Thread?

    /// - Parameters: pausedMicroseconds / runningMicroseconds: the duty cycle.
    public init(rootPID: pid_t, pausedMicroseconds: UInt32 = 40_000, runningMicroseconds: UInt32 = 20_000) {
        self.rootPID = rootPID
        let thread = Thread { [self] in
            while isRunning {
                let tree = ProcessTree.descendants(of: rootPID)
                tree.forEach { kill($0, SIGSTOP) }
                usleep(pausedMicroseconds)
                tree.forEach { kill($0, SIGCONT) }
                usleep(runningMicroseconds)
            }
            ProcessTree.descendants(of: rootPID).forEach { kill($0, SIGCONT) }
        }
        self.thread = thread
        thread.start()
    }

    /// sshd's PID from its PidFile.
    public static func sshdPID(_ sshd: SSHDFixture) throws -> pid_t {
        let text = try String(contentsOfFile: sshd.directory.file("sshd.pid"), encoding: .utf8)
        guard let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw POSIXError(.ESRCH) }
        return pid
    }

    private var isRunning: Bool { lock.lock(); defer { lock.unlock() }; return running }

    public func stop() {
        lock.lock(); running = false; lock.unlock()
        while thread?.isFinished == false { usleep(1000) }
    }

    deinit { stop() }
}

/// A private sshd using PAM for keyboard-interactive authentication (SSHDFixture pins `UsePAM no`).
/// Only keyboard-interactive is enabled, so a successful login proves that method.
public final class TunnelPAMSSHD: @unchecked Sendable {
    public let directory: TempDirectory
    public let port: Int
    public let host = "127.0.0.1"
    public let hostKey: String
    private let process: ManagedProcess

    public init() throws {
        directory = try TempDirectory("pam-sshd")
        hostKey = directory.file("ssh_host_ed25519_key")
        try runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey])
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)
        port = try LoopbackNet.freePort(on: host)
        let config = [
            "ListenAddress \(host)", "Port \(port)", "HostKey \(hostKey)", "PidFile \(directory.file("sshd.pid"))",
            "StrictModes no", "UsePAM yes", "PubkeyAuthentication no", "PasswordAuthentication no",
            "KbdInteractiveAuthentication yes", "AuthenticationMethods keyboard-interactive",
            "AllowTcpForwarding yes", "LogLevel VERBOSE",
        ].joined(separator: "\n") + "\n"
        let path = try directory.write("sshd_config", config, mode: 0o600)
        process = try ManagedProcess(try which("sshd"), ["-D", "-e", "-f", path])
        try LoopbackNet.waitForGreeting(host, port, prefix: "SSH-2.0-")
    }

    public var knownHostsLine: String {
        let key = ((try? String(contentsOfFile: hostKey + ".pub", encoding: .utf8)) ?? "").split(separator: " ").prefix(2).joined(separator: " ")
        return "[\(host)]:\(port) \(key)"
    }

    public var log: String { process.output }

    deinit { process.stop() }
}
