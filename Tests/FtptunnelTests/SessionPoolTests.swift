import Foundation
import Testing
import TestSupport

/// `Sessions N` (issue 5): data connections spread over several SSH sessions, each on its own thread.
/// Real sshd, real vsftpd as the recipe, real curl, the built binary; every file checked by SHA-256.
@Suite(.serialized) struct SessionPoolTests {
    static let downloads = 8
    static let uploads = 4
    static let fileMiB = 64

    /// Lines of the tunnel's -v log for events on pool session `number` (metadata `(… session=N …)`).
    private func lines(_ output: String, session number: Int, containing text: String) -> Int {
        output.split(separator: "\n").filter {
            ($0.contains("session=\(number) ") || $0.contains("session=\(number))")) && $0.contains(text)
        }.count
    }

    @Test func twoSessionsCarryConcurrentDownloadsAndUploadsByteExact() throws {
        let recipe = try PoolRecipe()
        for index in 0..<Self.downloads {
            try TunnelPayload.random(at: recipe.root.file("d\(index).bin"), mebibytes: Self.fileMiB)
        }
        for index in 0..<Self.uploads {
            try TunnelPayload.random(at: recipe.work.file("u\(index).bin"), mebibytes: Self.fileMiB)
        }
        let tunnel = try recipe.tunnel(sessions: 2)
        // sshd logs from its own processes: wait until both logins have been written.
        try Deadline.wait(for: "two SSH logins in the sshd log") { recipe.authenticatedSessions >= 2 }
        #expect(recipe.authenticatedSessions == 2, "\(recipe.sshd.log)")
        #expect(tunnel.output.contains("session pool ready"), "\(tunnel.output)")

        let curl = try which("curl")
        var transfers: [(ManagedProcess, String)] = []
        for index in 0..<Self.downloads {
            transfers.append((try ManagedProcess(curl, ["-sSv", "--max-time", "300", "\(tunnel.url)/d\(index).bin",
                                                        "-o", recipe.work.file("d\(index).bin")]), "download \(index)"))
        }
        for index in 0..<Self.uploads {
            transfers.append((try ManagedProcess(curl, ["-sSv", "--max-time", "300", "-T", recipe.work.file("u\(index).bin"),
                                                        "\(tunnel.url)/upload/u\(index).bin"]), "upload \(index)"))
        }
        for (process, name) in transfers {
            #expect(try process.waitForExit(seconds: 310) == 0, "\(name): \(process.output)\n\(tunnel.output)")
        }
        for index in 0..<Self.downloads {
            #expect(try TestFiles.sha256(recipe.work.file("d\(index).bin")) == TestFiles.sha256(recipe.root.file("d\(index).bin")),
                    "download \(index)")
        }
        for index in 0..<Self.uploads {
            #expect(try TestFiles.sha256(recipe.root.file("upload/u\(index).bin")) == TestFiles.sha256(recipe.work.file("u\(index).bin")),
                    "upload \(index)")
        }
        // Both sessions carried channels; control connections were spread over both (issue 17, point 7).
        let output = tunnel.output
        #expect(lines(output, session: 1, containing: "channel open") > 0, "\(output)")
        #expect(lines(output, session: 2, containing: "channel open") > 0, "\(output)")
        #expect(lines(output, session: 1, containing: "connection accepted on port \(tunnel.localPort) ") > 0, "\(output)")
        #expect(lines(output, session: 2, containing: "connection accepted on port \(tunnel.localPort) ") > 0, "\(output)")
        #expect(tunnel.process.isRunning)
        // Clean shutdown: every session disconnects, every thread joined, exit 0.
        tunnel.process.signal(SIGTERM)
        #expect(try tunnel.process.waitForExit(seconds: 30) == 0, "\(tunnel.output)")
        try Deadline.wait(for: "two clean SSH disconnects") {
            recipe.sshd.log.components(separatedBy: "ftptunnel stopped").count - 1 == 2
        }
    }

    /// RSA keys are decoded and signed by ftptunnel itself, ed25519 by libssh2: both replay without asking again.
    @Test(arguments: ["ed25519", "rsa"]) func encryptedKeyPassphraseIsAskedOnceForTwoSessions(_ keyType: String) throws {
        let recipe = try PoolRecipe()
        let key = recipe.work.file("id_enc")
        try runChecked("ssh-keygen", ["-q", "-t", keyType, "-N", "pool passphrase", "-f", key])
        try FileManager.default.removeItem(atPath: recipe.sshd.directory.file("authorized_keys"))
        try FileManager.default.copyItem(atPath: key + ".pub", toPath: recipe.sshd.directory.file("authorized_keys"))
        let asked = recipe.work.file("asked.log")
        let tunnel = try recipe.tunnel(sessions: 2, identity: key,
                                       environment: CountingAskpass.environment(secret: "pool passphrase", log: asked, in: recipe.work))
        #expect(CountingAskpass.invocations(asked) == 1, "\(tunnel.output)")
        // sshd logs from its own processes: wait until both logins have been written.
        try Deadline.wait(for: "two SSH logins in the sshd log") { recipe.authenticatedSessions >= 2 }
        #expect(recipe.authenticatedSessions == 2, "\(recipe.sshd.log)")
        #expect(lines(tunnel.output, session: 2, containing: "authenticated") == 1, "\(tunnel.output)")

        try TunnelPayload.random(at: recipe.root.file("a.bin"), mebibytes: 8)
        try TunnelPayload.random(at: recipe.root.file("b.bin"), mebibytes: 8)
        let curl = try which("curl")
        let first = try ManagedProcess(curl, ["-sS", "--max-time", "120", "\(tunnel.url)/a.bin", "-o", recipe.work.file("a.bin")])
        let second = try ManagedProcess(curl, ["-sS", "--max-time", "120", "\(tunnel.url)/b.bin", "-o", recipe.work.file("b.bin")])
        #expect(try first.waitForExit(seconds: 130) == 0, "\(first.output)\n\(tunnel.output)")
        #expect(try second.waitForExit(seconds: 130) == 0, "\(second.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("a.bin")) == TestFiles.sha256(recipe.root.file("a.bin")))
        #expect(try TestFiles.sha256(recipe.work.file("b.bin")) == TestFiles.sha256(recipe.root.file("b.bin")))
        #expect(CountingAskpass.invocations(asked) == 1, "\(tunnel.output)")
    }

    @Test func oneSessionByDefaultIsUnchanged() throws {
        let recipe = try PoolRecipe()
        try TunnelPayload.random(at: recipe.root.file("a.bin"), mebibytes: 32)
        try TunnelPayload.random(at: recipe.work.file("u.bin"), mebibytes: 32)
        let tunnel = try recipe.tunnel(sessions: nil)
        let down = try FTPClients.curl(["\(tunnel.url)/a.bin", "-o", recipe.work.file("a.bin")])
        #expect(down.status == 0, "\(down.output)\n\(tunnel.output)")
        let up = try FTPClients.curl(["-T", recipe.work.file("u.bin"), "\(tunnel.url)/upload/u.bin"])
        #expect(up.status == 0, "\(up.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("a.bin")) == TestFiles.sha256(recipe.root.file("a.bin")))
        #expect(try TestFiles.sha256(recipe.root.file("upload/u.bin")) == TestFiles.sha256(recipe.work.file("u.bin")))
        #expect(recipe.authenticatedSessions == 1, "\(recipe.sshd.log)")
        #expect(!tunnel.output.contains("session="), "\(tunnel.output)")
        #expect(!tunnel.output.contains("session pool"), "\(tunnel.output)")
    }

    @Test func keyboardInteractiveKeepsOneSessionWithANote() throws {
        let scenario = try KeyboardInteractiveScenario(payloadSize: 4 << 20)
        let asked = scenario.work.file("asked.log")
        let tunnel = try scenario.startTunnel(
            askpass: try CountingAskpass.environment(secret: scenario.password, log: asked, in: scenario.work),
            extraArguments: ["-o", "Sessions=3"])
        try tunnel.waitForOutput(containing: "ready", seconds: 30)
        #expect(tunnel.output.contains("Sessions 3 ignored"), "\(tunnel.output)")
        let result = try scenario.download()
        #expect(result.status == 0, "\(result.output)\n\(tunnel.output)\n\(scenario.sshd.log)")
        #expect(try scenario.downloadMatches())
        #expect(CountingAskpass.invocations(asked) == 1, "\(tunnel.output)")
        let logins = scenario.sshd.log.split(whereSeparator: \.isNewline).filter { $0.contains("Accepted keyboard-interactive") }
        #expect(logins.count == 1, "\(scenario.sshd.log)")
        tunnel.stop()
    }
}

/// A further session that meets another host key than the first one verified is refused: nothing listens.
@Suite(.serialized) struct SessionPoolHostKeyTests {
    @Test func differentHostKeyOnSecondSessionIsRefused() throws {
        let genuine = try SSHDFixture()
        let impostor = try SSHDFixture()
        try FileManager.default.removeItem(atPath: impostor.directory.file("authorized_keys"))
        try FileManager.default.copyItem(atPath: genuine.userKey + ".pub", toPath: impostor.directory.file("authorized_keys"))
        let proxy = try SwitchingTCPProxy(ports: [genuine.port, impostor.port])
        let work = try TempDirectory("pool-mitm")
        let knownHosts = try work.write("known_hosts", "[127.0.0.1]:\(proxy.port) \(genuine.hostPublicKey)\n", mode: 0o600)
        let home = try TempDirectory("pool-home")
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home.path
        env.removeValue(forKey: "SSH_AUTH_SOCK")
        let localPort = try LoopbackNet.freePort(on: LoopbackNet.clientSide)
        let passive = try LoopbackNet.freePortRange(count: 4)
        let tunnel = try ManagedProcess(try Products.ftptunnel, [
            "connect", "\(genuine.user)@127.0.0.1:\(proxy.port)", "--mode", "fixed", "--ftp-host", LoopbackNet.serverSide,
            "--ftp-port", "21", "--local-port", "\(localPort)", "-o", "Sessions=2", "-i", genuine.userKey,
            "--passive-ports", "\(passive.lowerBound)-\(passive.upperBound)", "--known-hosts", knownHosts, "-v",
        ], environment: env)
        #expect(try tunnel.waitForExit(seconds: 30) == 3, "\(tunnel.output)")
        #expect(tunnel.output.contains("session 2 of the pool presented host key"), "\(tunnel.output)")
        #expect(!tunnel.output.contains("ready"), "\(tunnel.output)")
        #expect(!LoopbackNet.isListening(LoopbackNet.clientSide, localPort))
    }
}
