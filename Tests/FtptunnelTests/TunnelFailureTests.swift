import Foundation
import Testing
import TestSupport

/// What happens when things go wrong: ports taken, forwarding refused, target down, sshd killed, signals.
@Suite(.serialized) struct TunnelFailureTests {
    @Test func occupiedLocalPortFailsBeforeAnySSHWork() throws {
        let recipe = try TunnelRecipe()
        let port = try LoopbackNet.freePort(on: "127.0.0.1")
        let blocker = try ManagedProcess(try which("python3"), ["-c", """
        import socket, time
        s = socket.socket(); s.bind(("127.0.0.1", \(port))); s.listen(1); print("bound", flush=True); time.sleep(120)
        """])
        try blocker.waitForOutput(containing: "bound")
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                       localPort: port, waitForReady: false)
        #expect(try tunnel.process.waitForExit(seconds: 30) == 5, "\(tunnel.output)")
        #expect(tunnel.output.contains("cannot listen on 127.0.0.1:\(port)"), "\(tunnel.output)")
        #expect(tunnel.output.contains("--local-port"), "\(tunnel.output)")
        #expect(!recipe.sshd.log.contains("Accepted publickey"), "no SSH session before the bind check")
        blocker.stop()
    }

    @Test func forwardingRefusedByServerKeepsTheTunnelUp() throws {
        var options = SSHDFixture.Options()
        options.allowTcpForwarding = false
        let recipe = try TunnelRecipe(sshd: options)
        let tunnel = try recipe.tunnel()
        let first = try FTPClients.curl(["\(tunnel.url)/"], seconds: 20)
        #expect(first.status != 0)
        try Deadline.wait(for: "the refusal in the log") { tunnel.output.contains("refused to open a channel") }
        #expect(tunnel.output.contains("administratively prohibited"), "\(tunnel.output)")
        #expect(tunnel.output.contains("AllowTcpForwarding"), "\(tunnel.output)")
        #expect(tunnel.process.isRunning)
        let second = try FTPClients.curl(["\(tunnel.url)/"], seconds: 20)
        #expect(second.status != 0)
        #expect(tunnel.process.isRunning, "\(tunnel.output)")
    }

    @Test func ftpTargetDownIsReportedAndTheTunnelStaysUp() throws {
        let recipe = try TunnelRecipe()
        let deadPort = try LoopbackNet.freePort(on: LoopbackNet.serverSide)
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: deadPort,
                                       passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey)
        let result = try FTPClients.curl(["\(tunnel.url)/"], seconds: 20)
        #expect(result.status != 0)
        try Deadline.wait(for: "the refusal in the log") { tunnel.output.contains("refused to open a channel") }
        #expect(tunnel.output.contains("127.0.0.2:\(deadPort)"), "\(tunnel.output)")
        #expect(tunnel.process.isRunning)
        // The same session still forwards the data ports afterwards.
        #expect(tunnel.process.isRunning)
    }

    /// `Reconnect no`: the loss of the SSH session ends the tunnel (status 6), as a supervisor expects.
    @Test func sshdKilledMidTransferEndsTheTunnelWithReconnectNo() throws {
        let recipe = try TunnelRecipe()
        try TunnelPayload.random(at: recipe.root.file("big.bin"), mebibytes: 512)
        let tunnel = try recipe.tunnel(extraArguments: ["-o", "Reconnect=no"])
        let curl = try ManagedProcess(try which("curl"), ["-sS", "--max-time", "120", "--limit-rate", "20M",
                                                          "\(tunnel.url)/big.bin", "-o", recipe.work.file("down.bin")])
        try Deadline.wait(for: "the download to start", seconds: 30) { TestFiles.size(recipe.work.file("down.bin")) > 1 << 20 }
        recipe.sshd.kill()
        let status = try tunnel.process.waitForExit(seconds: 30)
        #expect(status == 6, "\(tunnel.output)")
        #expect(tunnel.output.contains("SSH session lost"), "\(tunnel.output)")
        #expect(try curl.waitForExit(seconds: 30) != 0)
    }

    @Test func sigtermStopsCleanly() throws {
        let recipe = try TunnelRecipe()
        let tunnel = try recipe.tunnel()
        let control = try RawFTPControl(host: "127.0.0.1", port: tunnel.localPort)
        #expect(control.readReply()?.hasPrefix("220") == true)
        tunnel.process.signal(SIGTERM)
        #expect(try tunnel.process.waitForExit(seconds: 10) == 0, "\(tunnel.output)")
        #expect(control.isClosedByServer())
        #expect(!LoopbackNet.isListening("127.0.0.1", tunnel.localPort))
    }

    @Test func signalAtAPassphrasePromptEndsTheProcess() throws {
        let recipe = try TunnelRecipe()
        let key = recipe.work.file("id_enc")
        try runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "secret", "-f", key])
        // An askpass that announces itself and then waits forever, like a user who walked away.
        let askpass = try recipe.work.write("hang.sh", "#!/bin/sh\necho asking-now >&2\nexec cat\n", mode: 0o700)
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: key,
                                       environment: ["SSH_ASKPASS": askpass, "SSH_ASKPASS_REQUIRE": "force"],
                                       waitForReady: false)
        try tunnel.process.waitForOutput(containing: "asking-now")
        tunnel.process.signal(SIGTERM)
        #expect(try tunnel.process.waitForExit(seconds: 10) == 128 + SIGTERM, "\(tunnel.output)")
        #expect(tunnel.output.contains("interrupted before the tunnel was ready"))
    }

    @Test func unreachableSSHServerIsAConnectionError() throws {
        let recipe = try TunnelRecipe()
        let closedPort = try LoopbackNet.freePort(on: "127.0.0.1")
        // Fixed mode binds its passive ports before connecting: free ones (a fixed number may be any client's
        // ephemeral port at that moment).
        let passive = try LoopbackNet.freePortRange(count: 2, on: ["127.0.0.1"])
        let result = try runCommand(try Products.ftptunnel, [
            "connect", "\(recipe.sshd.user)@127.0.0.1:\(closedPort)", "--mode", "fixed",
            "--passive-ports", "\(passive.lowerBound)-\(passive.upperBound)",
            "--local-port", "\(try LoopbackNet.freePort(on: "127.0.0.1"))", "--known-hosts", recipe.knownHosts,
            "-i", recipe.sshd.userKey, "-o", "ConnectTimeout=3",
        ], seconds: 30)
        #expect(result.status == 6, "\(result.output)")
        #expect(result.stderr.contains("cannot connect to SSH server 127.0.0.1:\(closedPort)"), "\(result.output)")
    }
}

/// `ftptunnel run DEST -- CMD`: environment, exit status, teardown.
@Suite(.serialized) struct TunnelRunCommandTests {
    @Test func runsTheCommandWithTheTunnelURLAndReturnsItsStatus() throws {
        let recipe = try TunnelRecipe()
        try TestFiles.random(at: recipe.root.file("r.bin"), size: 3 << 20)
        let port = try LoopbackNet.freePort(on: "127.0.0.1")
        let home = try TempDirectory("run-home")
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home.path
        env.removeValue(forKey: "SSH_AUTH_SOCK")
        let base = [
            "run", "\(recipe.sshd.user)@\(recipe.sshd.host):\(recipe.sshd.port)", "--mode", "fixed",
            "--ftp-host", LoopbackNet.serverSide, "--ftp-port", "\(recipe.ftpPort)", "--local-port", "\(port)",
            "--passive-ports", "\(recipe.passivePorts.lowerBound)-\(recipe.passivePorts.upperBound)",
            "--known-hosts", recipe.knownHosts, "-i", recipe.sshd.userKey, "--",
        ]
        let out = recipe.work.file("r.bin")
        let ok = try runCommand(try Products.ftptunnel, base + [
            "sh", "-c", "test \"$FTPTUNNEL_PORT\" = \(port) && test \"$FTPTUNNEL_HOST\" = 127.0.0.1 && curl -sS \"$FTPTUNNEL_URL/r.bin\" -o \(out)",
        ], seconds: 60, environment: env)
        #expect(ok.status == 0, "\(ok.output)")
        // The ready line is ftptunnel's: stderr; stdout belongs to the command.
        #expect(ok.stderr.contains(TunnelProcess.readyMarker), "\(ok.output)")
        #expect(!ok.stdout.contains("ftptunnel"), "\(ok.output)")
        #expect(try TestFiles.sha256(out) == TestFiles.sha256(recipe.root.file("r.bin")))
        #expect(!LoopbackNet.isListening("127.0.0.1", port))

        let failing = try runCommand(try Products.ftptunnel, base + ["sh", "-c", "exit 7"], seconds: 60, environment: env)
        #expect(failing.status == 7, "\(failing.output)")
    }
}
