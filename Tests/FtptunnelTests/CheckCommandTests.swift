import Foundation
import Testing
import TestSupport

/// `ftptunnel check` as a user runs it: the built binary against a real sshd and real FTP servers on 127.0.0.2.
@Suite(.serialized) struct CheckCommandTests {
    /// sshd, a trusting known_hosts and an FTP root with one file to list.
    final class World: @unchecked Sendable {
        let sshd: SSHDFixture
        let work: TempDirectory
        let root: TempDirectory
        let knownHosts: String

        init() throws {
            sshd = try SSHDFixture()
            work = try TempDirectory("check-work")
            root = try TempDirectory("check-root")
            try TestFiles.random(at: root.file("listed.bin"), size: 1000)
            knownHosts = try sshd.writeKnownHosts(in: work)
        }

        func check(ftpPort: Int, _ arguments: [String] = [], environment: [String: String] = [:]) throws -> CommandResult {
            try CheckCommand.run(sshd: sshd, knownHosts: knownHosts, ftpPort: ftpPort, extraArguments: arguments,
                                 environment: environment)
        }
    }

    static func fixedArguments(_ range: ClosedRange<Int>) -> [String] {
        ["--mode", "fixed", "--passive-ports", "\(range.lowerBound)-\(range.upperBound)"]
    }

    @Test func stockVsftpdNeedsRewriteMode() throws {
        let world = try World()
        let vsftpd = try VsftpdFixture(root: world.root.path)
        let result = try world.check(ftpPort: vsftpd.port)
        let report = result.stdout
        #expect(report.contains("Server: vsftpd at 127.0.0.2"), "\(result.output)")
        #expect(report.contains("EPSV, "), "\(result.output)")
        #expect(report.contains("127.0.0.2 in its 227 replies: the server's own loopback address, which is wrong from the client side"),
                "\(result.output)")
        #expect(report.contains("fixed does not fit: it needs a server that advertises 127.0.0.1"), "\(result.output)")
        // Rewrite mode: needs the tunnel's rewrite mode.
        #expect(report.contains("EPSV + LIST: works"), "\(result.output)")
        #expect(report.contains("PASV + LIST: works"), "\(result.output)")
        #expect(report.contains("Mode: rewrite fits"), "\(result.output)")
        #expect(report.contains("curl ftp://127.0.0.1:"), "\(result.output)")
        #expect(result.status == 0, "\(result.output)")
    }

    @Test func stockVsftpdFailsTheFixedModeList() throws {
        let world = try World()
        let vsftpd = try VsftpdFixture(root: world.root.path)
        let result = try world.check(ftpPort: vsftpd.port, Self.fixedArguments(vsftpd.passivePorts))
        #expect(result.stdout.contains("PASV + LIST in fixed mode: failed: the reply points to 127.0.0.2:"), "\(result.output)")
        #expect(result.stdout.contains("not to the tunnel's 127.0.0.1"), "\(result.output)")
        #expect(result.stdout.contains("fixed does not fit with these settings"), "\(result.output)")
    }

    @Test func recipeVsftpdFitsFixedMode() throws {
        let world = try World()
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: "127.0.0.1")
        let result = try world.check(ftpPort: vsftpd.port, Self.fixedArguments(vsftpd.passivePorts))
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("127.0.0.1 in its 227 replies: correct from the client side"), "\(result.output)")
        #expect(result.stdout.contains("PASV + LIST in fixed mode: works (server said \"227 Entering Passive Mode (127,0,0,1,"),
                "\(result.output)")
        #expect(result.stdout.contains("fixed fits: a LIST worked through the fixed-mode tunnel"), "\(result.output)")
        #expect(result.stdout.contains("Client settings (ftp://127.0.0.1:"), "\(result.output)")
        #expect(result.stderr.isEmpty, "\(result.output)")
    }

    @Test func recipeVsftpdFitsBothModes() throws {
        let world = try World()
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: "127.0.0.1")
        let result = try world.check(ftpPort: vsftpd.port)
        #expect(result.stdout.contains("fixed also fits if PassivePorts covers the server's passive port range"), "\(result.output)")
        // Rewrite mode: needs the tunnel's rewrite mode.
        #expect(result.stdout.contains("Mode: rewrite fits"), "\(result.output)")
        #expect(result.status == 0, "\(result.output)")
    }

    @Test func passivePortsInUseStillReportTheControlFindings() throws {
        let world = try World()
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: "127.0.0.1")
        let taken = vsftpd.passivePorts.lowerBound
        let blocker = try ManagedProcess(try which("python3"), ["-c", """
        import socket, sys
        s = socket.socket(); s.bind(("127.0.0.1", \(taken))); s.listen(1); print("bound", flush=True); sys.stdin.read()
        """])
        defer { blocker.stop() }
        try blocker.waitForOutput(containing: "bound")
        let result = try world.check(ftpPort: vsftpd.port, Self.fixedArguments(vsftpd.passivePorts))
        #expect(result.stdout.contains("PASV + LIST in fixed mode: failed: PassivePorts \(taken)-\(vsftpd.passivePorts.upperBound) "
                                       + "cannot be bound here (127.0.0.1:\(taken): "), "\(result.output)")
        #expect(result.stdout.contains("127.0.0.1 in its 227 replies: correct from the client side"), "\(result.output)")
    }

    @Test func ftpUserPasswordComesFromAskpass() throws {
        let world = try World()
        let password = "Pw-\(UInt32.random(in: 1...UInt32.max))"
        let server = try PyftpdlibUserFixture(root: world.root.path, user: "alice", password: password, advertise: "127.0.0.1")
        let askpass = try TunnelAskpass.environment(secret: password, in: world.work)
        let result = try world.check(ftpPort: server.port, ["--ftp-user", "alice", "-vv"] + Self.fixedArguments(server.passivePorts),
                                     environment: askpass)
        #expect(result.status == 0, "\(result.output)\n\(server.log)")
        #expect(result.stdout.contains("Server: pyftpdlib"), "\(result.output)")
        #expect(result.stdout.contains("PASV + LIST in fixed mode: works"), "\(result.output)")
        #expect(result.stderr.contains("check → PASS ****"), "\(result.stderr)")
        #expect(!result.output.contains(password))
    }

    @Test func wrongFTPPasswordIsOneSentence() throws {
        let world = try World()
        let server = try PyftpdlibUserFixture(root: world.root.path, user: "alice", password: "right-one")
        let askpass = try TunnelAskpass.environment(secret: "wrong-one", in: world.work)
        let result = try world.check(ftpPort: server.port, ["--ftp-user", "alice"], environment: askpass)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stdout.isEmpty, "\(result.output)")
        #expect(result.stderr.hasPrefix("ftptunnel: error: the FTP server refused the login as alice"), "\(result.output)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.output)")
        #expect(!result.output.contains("wrong-one"))
    }

    @Test func unknownHostKeyFailsBeforeAnyProbe() throws {
        let world = try World()
        let vsftpd = try VsftpdFixture(root: world.root.path)
        let empty = try world.work.write("empty_known_hosts", "")
        let result = try CheckCommand.run(sshd: world.sshd, knownHosts: empty, ftpPort: vsftpd.port)
        #expect(result.status == 3, "\(result.output)")
        #expect(result.stdout.isEmpty, "\(result.output)")
        #expect(result.stderr.hasPrefix("ftptunnel: "), "\(result.output)")
        #expect(result.stderr.contains("127.0.0.1"), "\(result.output)")
        #expect(!world.sshd.log.contains("Accepted publickey"), "\(world.sshd.log)")
    }

    @Test func refusedSSHKeyFailsWithTheTunnelsError() throws {
        let world = try World()
        let vsftpd = try VsftpdFixture(root: world.root.path)
        let stranger = world.work.file("stranger_ed25519")
        try runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", stranger])
        let result = try CheckCommand.run(sshd: world.sshd, knownHosts: world.knownHosts, ftpPort: vsftpd.port,
                                          identity: stranger, extraArguments: ["-o", "IdentitiesOnly=yes"])
        #expect(result.status == 4, "\(result.output)")
        #expect(result.stdout.isEmpty, "\(result.output)")
        #expect(result.stderr.hasPrefix("ftptunnel: "), "\(result.output)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.output)")
    }

    @Test func noFTPServerAtTheTarget() throws {
        let world = try World()
        let deadPort = try LoopbackNet.freePort(on: LoopbackNet.serverSide)
        let result = try world.check(ftpPort: deadPort)
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stdout.isEmpty, "\(result.output)")
        #expect(result.stderr.contains("ftptunnel: error: no FTP server answered at 127.0.0.2:\(deadPort) as seen from the SSH server"),
                "\(result.output)")
    }
}
