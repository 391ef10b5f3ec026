import Foundation

/// A keyboard-interactive login end to end: a PAM sshd, the dedicated test user with a fresh password delivered
/// through SSH_ASKPASS, no agent and an empty HOME (so no key can be used), and vsftpd as the recipe behind it.
public final class KeyboardInteractiveScenario: @unchecked Sendable {
    public let sshd: TunnelPAMSSHD
    public let root: TempDirectory
    public let work: TempDirectory
    public let vsftpd: VsftpdFixture
    public let password: String
    public let localPort: Int
    private let home: TempDirectory
    private let knownHosts: String

    /// - Parameter payloadSize: bytes of `root/k.bin`, the file the test downloads.
    public init(payloadSize: Int) throws {
        sshd = try TunnelPAMSSHD()
        root = try TempDirectory("vsroot")
        work = try TempDirectory()
        home = try TempDirectory("kbd-home")
        try TestFiles.random(at: root.file("k.bin"), size: payloadSize)
        vsftpd = try VsftpdFixture(root: root.path, pasvAddress: "127.0.0.1")
        knownHosts = try work.write("known_hosts", sshd.knownHostsLine + "\n")
        password = try TunnelTestUser.withFreshPassword()
        localPort = try LoopbackNet.freePort(on: "127.0.0.1")
    }

    /// Starts `ftptunnel connect` in fixed mode as the test user; `askpass` is the SSH_ASKPASS environment.
    public func startTunnel(askpass: [String: String], extraArguments: [String] = []) throws -> ManagedProcess {
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home.path
        env.removeValue(forKey: "SSH_AUTH_SOCK")
        env.merge(askpass) { $1 }
        return try ManagedProcess(try Products.ftptunnel, [
            "connect", "\(TunnelTestUser.name)@\(sshd.host):\(sshd.port)", "--mode", "fixed",
            "--ftp-host", LoopbackNet.serverSide, "--ftp-port", "\(vsftpd.port)", "--local-port", "\(localPort)",
            "--passive-ports", "\(vsftpd.passivePorts.lowerBound)-\(vsftpd.passivePorts.upperBound)",
            "--known-hosts", knownHosts, "-v",
        ] + extraArguments, environment: env)
    }

    /// Downloads `k.bin` through the tunnel and returns curl's result; the copy lands in `work/k.bin`.
    public func download() throws -> CommandResult {
        try FTPClients.curl(["ftp://127.0.0.1:\(localPort)/k.bin", "-o", work.file("k.bin")])
    }

    /// True when the downloaded copy equals the server's file.
    public func downloadMatches() throws -> Bool {
        try TestFiles.sha256(work.file("k.bin")) == TestFiles.sha256(root.file("k.bin"))
    }
}
