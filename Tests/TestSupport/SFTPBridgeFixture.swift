import Foundation

/// Mode sftp's world: a private sshd with `Subsystem sftp internal-sftp` and no FTP server anywhere, a directory
/// served as the FTP root, a local work directory, and `ftptunnel connect --mode sftp` in front of it.
public final class SFTPBridgeWorld: @unchecked Sendable {
    public let sshd: SSHDFixture
    /// The remote directory the FTP client sees as `/` (same machine: its files are checked directly).
    public let root: String
    public let work: TempDirectory
    public let knownHosts: String
    public let bridge: SFTPBridgeProcess
    /// The SSH account the bridge logs in as.
    public let sshUser: String
    private let rootDirectory: TempDirectory?
    /// Between the bridge and sshd when the world was made with `delayMilliseconds`.
    public let delay: DelayProxy?

    /// - Parameters:
    ///   - sshUser: the SSH account (nil: the current user); the test key is authorised for every account.
    ///   - root: the SFTPRoot to serve (nil: a fresh temporary directory).
    ///   - subsystem: false for a server without SFTP.
    ///   - subsystemCommand: the SFTP subsystem's command line (default: sshd's internal-sftp).
    ///   - bridgeArguments: more `ftptunnel connect` arguments (e.g. `-o ConnectTimeout=3`).
    ///   - bridgeEnvironment: added to the bridge's environment (e.g. XDG_RUNTIME_DIR for `status`).
    ///   - delayMilliseconds: the bridge reaches sshd through a `DelayProxy` adding this much each way.
    ///   - sshdConfig: more sshd_config lines (e.g. `MaxSessions 3`).
    public init(sshUser: String? = nil, root: String? = nil, subsystem: Bool = true, waitForReady: Bool = true,
                subsystemCommand: String? = nil, bridgeArguments: [String] = [],
                bridgeEnvironment: [String: String] = [:], delayMilliseconds: Int? = nil, sshdConfig: [String] = []) throws {
        var options = SSHDFixture.Options()
        options.extraConfig = (subsystem ? ["Subsystem sftp \(subsystemCommand ?? "internal-sftp")"] : []) + sshdConfig
        sshd = try SSHDFixture(options)
        // Another account's sshd process must read authorized_keys: the key directory becomes traversable
        // (the private keys in it stay 0600).
        chmod(sshd.directory.path, 0o755)
        chmod(sshd.directory.file("authorized_keys"), 0o644)
        if let root {
            self.root = root
            rootDirectory = nil
        } else {
            let directory = try TempDirectory("sftp-root")
            rootDirectory = directory
            self.root = directory.path
        }
        work = try TempDirectory("sftp-work")
        self.sshUser = sshUser ?? sshd.user
        if let delayMilliseconds {
            let proxy = try DelayProxy(target: sshd.host, port: sshd.port, milliseconds: delayMilliseconds)
            delay = proxy
            knownHosts = try work.write("known_hosts", "[\(sshd.host)]:\(proxy.port) \(sshd.hostPublicKey)\n", mode: 0o600)
        } else {
            delay = nil
            knownHosts = try sshd.writeKnownHosts(in: work)
        }
        bridge = try SFTPBridgeProcess(sshd: sshd, user: self.sshUser, root: self.root, knownHosts: knownHosts,
                                       waitForReady: waitForReady, sshPort: delay?.port, arguments: bridgeArguments,
                                       environment: bridgeEnvironment)
    }

    public var url: String { bridge.url }
    public func remote(_ name: String) -> String { "\(root)/\(name)" }
    public func local(_ name: String) -> String { work.file(name) }

    /// Another bridge to the same server and root, sharing the first one's HOME.
    public func anotherBridge() throws -> SFTPBridgeProcess {
        try SFTPBridgeProcess(sshd: sshd, user: sshUser, root: root, knownHosts: knownHosts, waitForReady: true,
                              home: bridge.home)
    }
}

/// `ftptunnel connect USER@HOST:PORT --mode sftp --sftp-root ROOT` with its own HOME and no agent.
public final class SFTPBridgeProcess: @unchecked Sendable {
    public let process: ManagedProcess
    public let localPort: Int
    public let home: TempDirectory

    /// `home`: another bridge's HOME, so that both share its state (`~/.local/state/ftptunnel`).
    /// `sshPort`: where the bridge connects instead of sshd's own port (a `DelayProxy`).
    public init(sshd: SSHDFixture, user: String, root: String, knownHosts: String, waitForReady: Bool,
                home: TempDirectory? = nil, sshPort: Int? = nil, arguments extra: [String] = [],
                environment added: [String: String] = [:]) throws {
        self.home = try home ?? TempDirectory("bridge-home")
        localPort = try LoopbackNet.freePort(on: LoopbackNet.clientSide)
        let arguments = ["connect", "\(user)@\(sshd.host):\(sshPort ?? sshd.port)", "--mode", "sftp", "--sftp-root", root,
                         "--local-port", "\(localPort)", "--known-hosts", knownHosts, "-i", sshd.userKey, "-v"] + extra
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = self.home.path
        env.removeValue(forKey: "XDG_STATE_HOME")
        for key in ["SSH_AUTH_SOCK", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE"] { env.removeValue(forKey: key) }
        env.merge(added) { _, new in new }
        process = try ManagedProcess(try Products.ftptunnel, arguments, environment: env)
        if waitForReady { try process.waitForOutput(containing: TunnelProcess.readyMarker, seconds: 30) }
    }

    public var url: String { "ftp://\(LoopbackNet.clientSide):\(localPort)" }
    public var output: String { process.output }
    deinit { process.stop() }
}

extension SFTPBridgeWorld {
    /// The bridge's temporary upload names (`.ftptunnel-upload-*`) in `directory` on the server's side.
    public static func temporaryUploads(in directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".ftptunnel-upload-") }
    }
}
