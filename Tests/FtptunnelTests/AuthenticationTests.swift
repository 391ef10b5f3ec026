import Foundation
import Testing
import TestSupport

/// Authentication methods against a real sshd: key file, encrypted key (passphrase via SSH_ASKPASS), ssh-agent,
/// password (RSA keys and certificates: PublicKeyIdentityTests).
@Suite(.serialized) struct AuthenticationTests {
    /// A new ed25519 key protected by the passphrase "correct horse", authorized on the recipe's sshd.
    private func authorizedEncryptedKey(_ recipe: TunnelRecipe) throws -> String {
        let key = recipe.work.file("id_enc")
        try runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "correct horse", "-f", key])
        try authorize(key + ".pub", on: recipe.sshd)
        return key
    }

    private func authorize(_ publicKeyFile: String, on sshd: SSHDFixture) throws {
        let line = try String(contentsOfFile: publicKeyFile, encoding: .utf8)
        let handle = try #require(FileHandle(forWritingAtPath: sshd.directory.file("authorized_keys")))
        handle.seekToEndOfFile()
        handle.write(Data(line.utf8))
        try handle.close()
    }

    private func downloadWorks(_ recipe: TunnelRecipe, _ tunnel: TunnelProcess) throws {
        try TestFiles.random(at: recipe.root.file("a.bin"), size: 1 << 20)
        let result = try FTPClients.curl(["\(tunnel.url)/a.bin", "-o", recipe.work.file("a.bin")])
        #expect(result.status == 0, "\(result.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("a.bin")) == TestFiles.sha256(recipe.root.file("a.bin")))
    }

    @Test func plainKeyFileWithIdentitiesOnly() throws {
        let recipe = try TunnelRecipe()
        let tunnel = try recipe.tunnel(extraArguments: ["-o", "IdentitiesOnly=yes"])
        try downloadWorks(recipe, tunnel)
    }

    @Test func encryptedKeyWithPassphraseFromAskpass() throws {
        let recipe = try TunnelRecipe()
        let key = try authorizedEncryptedKey(recipe)
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: key,
                                       environment: TunnelAskpass.environment(secret: "correct horse", in: recipe.work))
        try downloadWorks(recipe, tunnel)
    }

    @Test func wrongPassphraseFailsAuthentication() throws {
        let recipe = try TunnelRecipe()
        let key = try authorizedEncryptedKey(recipe)
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: key,
                                       environment: TunnelAskpass.environment(secret: "wrong", in: recipe.work),
                                       waitForReady: false)
        #expect(try tunnel.process.waitForExit(seconds: 30) == 4, "\(tunnel.output)")
        // The passphrase was the cause: the message says so, not advice about User/IdentityFile/authorized_keys.
        #expect(tunnel.output.contains("ftptunnel: error: wrong passphrase for \(key) (3 attempts)"), "\(tunnel.output)")
        #expect(!tunnel.output.contains("authorized_keys"), "\(tunnel.output)")
    }

    @Test func sshAgent() throws {
        let recipe = try TunnelRecipe()
        let agent = try TunnelAgent()
        try agent.add(recipe.sshd.userKey)
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: nil,
                                       environment: ["SSH_AUTH_SOCK": agent.socket])
        try downloadWorks(recipe, tunnel)
    }

    @Test func passwordFromAskpass() throws {
        var options = SSHDFixture.Options()
        options.passwordAuthentication = true
        options.extraConfig = ["PubkeyAuthentication no"]
        let recipe = try TunnelRecipe(sshd: options)
        let password = try TunnelTestUser.withFreshPassword()
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: nil,
                                       environment: TunnelAskpass.environment(secret: password, in: recipe.work),
                                       user: TunnelTestUser.name)
        try downloadWorks(recipe, tunnel)
    }

    @Test func wrongPasswordFails() throws {
        var options = SSHDFixture.Options()
        options.passwordAuthentication = true
        let recipe = try TunnelRecipe(sshd: options)
        _ = try TunnelTestUser.withFreshPassword()
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: nil,
                                       environment: TunnelAskpass.environment(secret: "not-the-password", in: recipe.work),
                                       waitForReady: false, user: TunnelTestUser.name)
        #expect(try tunnel.process.waitForExit(seconds: 60) == 4, "\(tunnel.output)")
        #expect(tunnel.output.contains("password"), "\(tunnel.output)")
    }

    @Test func keyboardInteractiveThroughPAM() throws {
        let scenario = try KeyboardInteractiveScenario(payloadSize: 1 << 20)
        let tunnel = try scenario.startTunnel(askpass: try TunnelAskpass.environment(secret: scenario.password, in: scenario.work))
        try tunnel.waitForOutput(containing: TunnelProcess.readyMarker, seconds: 30)
        let result = try scenario.download()
        #expect(result.status == 0, "\(result.output)\n\(tunnel.output)\n\(scenario.sshd.log)")
        #expect(try scenario.downloadMatches())
        #expect(scenario.sshd.log.contains("keyboard-interactive"), "\(scenario.sshd.log)")
        tunnel.stop()
    }
}
