import Foundation
import Testing
import TestSupport

/// RSA keys (rsa-sha2-512, never ssh-rsa) and user certificates against a real OpenSSH sshd: key files plain and
/// encrypted (passphrase typed on a pty), a key held only by ssh-agent, ECDSA certificates beside the key, through
/// CertificateFile and in the agent with only the CA trusted, ed25519/expired certificates named before they are
/// tried, and `show` listing what will be offered.
@Suite(.serialized) struct PublicKeyIdentityTests {
    private func authorize(_ publicKeyFile: String, on sshd: SSHDFixture, replacing: Bool = false) throws {
        let line = try String(contentsOfFile: publicKeyFile, encoding: .utf8)
        let path = sshd.directory.file("authorized_keys")
        let existing = replacing ? "" : try String(contentsOfFile: path, encoding: .utf8)
        try (existing + line).write(toFile: path, atomically: true, encoding: .utf8)
    }

    private func downloadWorks(_ recipe: TunnelRecipe, _ tunnel: TunnelProcess) throws {
        try TestFiles.random(at: recipe.root.file("a.bin"), size: 1 << 20)
        let result = try FTPClients.curl(["\(tunnel.url)/a.bin", "-o", recipe.work.file("a.bin")])
        #expect(result.status == 0, "\(result.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("a.bin")) == TestFiles.sha256(recipe.root.file("a.bin")))
    }

    /// sshd's VERBOSE line for the accepted key, e.g. `Accepted publickey for root … ssh2: RSA SHA256:…`.
    private func acceptedLine(_ sshd: SSHDFixture) throws -> String {
        try Deadline.wait(for: "sshd's Accepted publickey line") { sshd.log.contains("Accepted publickey") }
        return sshd.log.split(separator: "\n").first { $0.contains("Accepted publickey") }.map(String.init) ?? ""
    }

    private func rsaKey(_ recipe: TunnelRecipe, bits: Int = 2048, passphrase: String = "", format: [String] = []) throws -> String {
        let key = recipe.work.file("id_rsa")
        try runChecked("ssh-keygen", ["-q", "-t", "rsa", "-b", "\(bits)", "-N", passphrase, "-f", key] + format)
        try authorize(key + ".pub", on: recipe.sshd, replacing: true)
        return key
    }

    @Test func rsaKeyFileLogsInWithRSASHA2() throws {
        let recipe = try TunnelRecipe()
        let key = try rsaKey(recipe)
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: key)
        try downloadWorks(recipe, tunnel)
        let accepted = try acceptedLine(recipe.sshd)
        #expect(accepted.contains("ssh2: RSA SHA256:"), "\(recipe.sshd.log)")
        #expect(!recipe.sshd.log.contains("ssh-rsa not in"), "\(recipe.sshd.log)")
    }

    @Test func rsaPEMKeyFileLogsIn() throws {
        let recipe = try TunnelRecipe()
        let key = try rsaKey(recipe, format: ["-m", "PEM"])
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: key)
        try downloadWorks(recipe, tunnel)
        #expect(try acceptedLine(recipe.sshd).contains("ssh2: RSA SHA256:"))
    }

    @Test func encryptedPKCS8RSAKeyWithoutItsPublicHalf() throws {
        let recipe = try TunnelRecipe()
        let key = try rsaKey(recipe, passphrase: "pkcs8 secret", format: ["-m", "PKCS8"])
        try FileManager.default.removeItem(atPath: key + ".pub")
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: key,
                                       environment: TunnelAskpass.environment(secret: "pkcs8 secret", in: recipe.work))
        try downloadWorks(recipe, tunnel)
        #expect(try acceptedLine(recipe.sshd).contains("ssh2: RSA SHA256:"), "\(recipe.sshd.log)")
    }

    @Test func encryptedRSAKeyPassphraseTypedOnATerminalIsAskedAgainWhenWrong() throws {
        let recipe = try TunnelRecipe()
        let key = try rsaKey(recipe, bits: 3072, passphrase: "correct horse")
        let home = try TempDirectory("tunnel-home")
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = home.path
        for name in ["SSH_AUTH_SOCK", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE", "NOTIFY_SOCKET"] { environment.removeValue(forKey: name) }
        let arguments = [
            "connect", "\(recipe.sshd.user)@\(recipe.sshd.host):\(recipe.sshd.port)", "--mode", "fixed",
            "--ftp-host", LoopbackNet.serverSide, "--ftp-port", "\(recipe.ftpPort)",
            "--local-port", "\(try LoopbackNet.freePort(on: LoopbackNet.clientSide))",
            "--passive-ports", "\(recipe.passivePorts.lowerBound)-\(recipe.passivePorts.upperBound)",
            "--known-hosts", recipe.knownHosts, "-i", key, "-v",
        ]
        let prompt = "Enter passphrase for key '\(key)': "
        let result = try PtySession.run(try Products.ftptunnel, arguments, environment: environment, steps: [
            .init(expect: prompt, send: "wrong horse\r"),
            .init(expect: "wrong passphrase for \(key), try again", send: ""),
            .init(expect: prompt, send: "correct horse\r"),
            .init(expect: TunnelProcess.readyMarker, send: "\u{3}"),
        ], seconds: 90)
        #expect(result.failure == nil, "\(result.transcript)")
        #expect(result.status == 0, "\(result.transcript)")
        #expect(!result.transcript.contains("correct horse"), "the passphrase must not be echoed: \(result.transcript)")
        #expect(try acceptedLine(recipe.sshd).contains("ssh2: RSA SHA256:"), "\(recipe.sshd.log)")
    }

    @Test func rsaKeyHeldOnlyBySSHAgent() throws {
        let recipe = try TunnelRecipe()
        let key = try rsaKey(recipe)
        let agent = try TunnelAgent()
        try agent.add(key)
        try FileManager.default.removeItem(atPath: key)
        try FileManager.default.removeItem(atPath: key + ".pub")
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: nil,
                                       environment: ["SSH_AUTH_SOCK": agent.socket])
        try downloadWorks(recipe, tunnel)
        #expect(try acceptedLine(recipe.sshd).contains("ssh2: RSA SHA256:"), "\(recipe.sshd.log)")
    }

    @Test func identityAgentNoneIgnoresTheAgent() throws {
        let recipe = try TunnelRecipe()
        let key = try rsaKey(recipe)
        let agent = try TunnelAgent()
        try agent.add(key)
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: nil,
                                       extraArguments: ["-o", "IdentityAgent=none"],
                                       environment: ["SSH_AUTH_SOCK": agent.socket], waitForReady: false)
        #expect(try tunnel.process.waitForExit(seconds: 30) == 4, "\(tunnel.output)")
        #expect(tunnel.output.contains("tried: nothing usable"), "\(tunnel.output)")
    }

    // MARK: rsa-sha2-256 fallback

    /// Where the RSA key signs: its file, or only ssh-agent (the file removed).
    enum RSASigner: String, CaseIterable, Sendable { case file, agent }

    /// An sshd taking RSA keys under one SHA-2 algorithm only; the key logs in either way. rsa-sha2-512 is offered
    /// first: an sshd taking only rsa-sha2-256 refuses it once (logged) and takes the same key under rsa-sha2-256,
    /// an sshd taking rsa-sha2-512 sees exactly one offer.
    @Test(arguments: [("rsa-sha2-256", RSASigner.file), ("rsa-sha2-256", .agent), ("rsa-sha2-512", .file), ("rsa-sha2-512", .agent)])
    func rsaKeyLogsInUnderTheOnlyAlgorithmTheServerTakes(accepted: String, signer: RSASigner) throws {
        var options = SSHDFixture.Options()
        options.extraConfig = ["PubkeyAcceptedAlgorithms \(accepted)"]
        let recipe = try TunnelRecipe(sshd: options)
        let key = try rsaKey(recipe)
        var environment: [String: String] = [:]
        var agent: TunnelAgent?
        if signer == .agent {
            let held = try TunnelAgent()
            try held.add(key)
            try FileManager.default.removeItem(atPath: key)
            try FileManager.default.removeItem(atPath: key + ".pub")
            environment["SSH_AUTH_SOCK"] = held.socket
            agent = held
        }
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: signer == .file ? key : nil,
                                       environment: environment)
        try downloadWorks(recipe, tunnel)
        #expect(try acceptedLine(recipe.sshd).contains("ssh2: RSA SHA256:"), "\(recipe.sshd.log)")
        let refusals = recipe.sshd.log.components(separatedBy: "rsa-sha2-512 not in PubkeyAcceptedAlgorithms").count - 1
        #expect(refusals == (accepted == "rsa-sha2-256" ? 1 : 0), "\(recipe.sshd.log)")
        #expect(!recipe.sshd.log.contains("ssh-rsa"), "never ssh-rsa: \(recipe.sshd.log)")
        withExtendedLifetime(agent) {}
    }

    /// `Sessions 2` against an sshd taking only rsa-sha2-256: the first session finds the algorithm (one refusal
    /// logged), the second replays the credential under rsa-sha2-256 straight away (no second refusal).
    @Test func poolSessionsReplayTheRSAAlgorithmThatWorked() throws {
        var options = SSHDFixture.Options()
        options.extraConfig = ["PubkeyAcceptedAlgorithms rsa-sha2-256"]
        let recipe = try TunnelRecipe(sshd: options)
        let key = try rsaKey(recipe)
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: key, extraArguments: ["-o", "Sessions=2"])
        try Deadline.wait(for: "two logins in sshd's log") {
            recipe.sshd.log.components(separatedBy: "Accepted publickey").count - 1 == 2
        }
        try downloadWorks(recipe, tunnel)
        #expect(recipe.sshd.log.components(separatedBy: "rsa-sha2-512 not in PubkeyAcceptedAlgorithms").count - 1 == 1,
                "\(recipe.sshd.log)")
    }

    /// A key the server does not know at all costs two offers (rsa-sha2-512, then rsa-sha2-256), and the
    /// second one only after every other identity: the authorized ed25519 key behind it logs in on the first try.
    @Test func refusedRSAKeyRetriesOnlyAfterTheOtherIdentities() throws {
        var options = SSHDFixture.Options()
        options.extraConfig = ["MaxAuthTries 2"]
        let recipe = try TunnelRecipe(sshd: options)
        let stranger = recipe.work.file("stranger_rsa")
        try runChecked("ssh-keygen", ["-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "stranger", "-f", stranger])
        let agent = try TunnelAgent()
        try agent.add(stranger)
        // The agent's stranger comes before the file: with an immediate retry it would use up MaxAuthTries 2.
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                       environment: ["SSH_AUTH_SOCK": agent.socket])
        try downloadWorks(recipe, tunnel)
        #expect(recipe.sshd.log.components(separatedBy: "Failed publickey").count - 1 == 1, "\(recipe.sshd.log)")
    }

    // MARK: MaxAuthTries

    /// sshd with MaxAuthTries 2 and an agent holding three keys the server does not know.
    private func crowdedAgent(_ recipe: TunnelRecipe) throws -> TunnelAgent {
        let agent = try TunnelAgent()
        for index in 0..<3 {
            let stranger = recipe.work.file("stranger\(index)")
            try runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "stranger\(index)", "-f", stranger])
            try agent.add(stranger)
        }
        return agent
    }

    @Test func agentKeyMatchingTheIdentityFileIsOfferedFirst() throws {
        var options = SSHDFixture.Options()
        options.extraConfig = ["MaxAuthTries 2"]
        let recipe = try TunnelRecipe(sshd: options)
        let agent = try crowdedAgent(recipe)
        try agent.add(recipe.sshd.userKey)
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                       environment: ["SSH_AUTH_SOCK": agent.socket])
        try downloadWorks(recipe, tunnel)
        #expect(!recipe.sshd.log.contains("Failed publickey"), "the first offer must be the right key: \(recipe.sshd.log)")
    }

    @Test func identitiesOnlyKeepsTheAgentsOtherKeysOutOfMaxAuthTries() throws {
        var options = SSHDFixture.Options()
        options.extraConfig = ["MaxAuthTries 2"]
        let recipe = try TunnelRecipe(sshd: options)
        let agent = try crowdedAgent(recipe)
        // Without IdentitiesOnly the agent's three strangers come before the file and use up MaxAuthTries.
        let crowded = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                        passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                        environment: ["SSH_AUTH_SOCK": agent.socket], waitForReady: false)
        #expect(try crowded.process.waitForExit(seconds: 30) == 4, "\(crowded.output)")
        #expect(crowded.output.contains("127.0.0.1 closed the connection while public keys were offered for \(recipe.sshd.user) (tried: ssh-ed25519 from ssh-agent (stranger0), ssh-ed25519 from ssh-agent (stranger1)"), "\(crowded.output)")
        #expect(crowded.output.contains("IdentitiesOnly yes"), "\(crowded.output)")
        #expect(recipe.sshd.log.contains("Too many authentication failures") || recipe.sshd.log.contains("maximum authentication attempts exceeded"),
                "\(recipe.sshd.log)")
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                       extraArguments: ["-o", "IdentitiesOnly=yes"],
                                       environment: ["SSH_AUTH_SOCK": agent.socket])
        try downloadWorks(recipe, tunnel)
    }

    // MARK: Certificates

    /// An sshd trusting only a user CA (empty authorized_keys), a user key (ECDSA unless told), and the CA's key file.
    private struct CertificateWorld {
        let recipe: TunnelRecipe
        /// Holds the CA key (a TempDirectory is removed when released).
        let keys: TempDirectory
        let ca: String
        let key: String

        init(keyType: String = "ecdsa") throws {
            keys = try TempDirectory("ca")
            ca = keys.file("user_ca")
            try runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "user CA", "-f", ca])
            var options = SSHDFixture.Options()
            options.extraConfig = ["TrustedUserCAKeys \(ca).pub"]
            recipe = try TunnelRecipe(sshd: options)
            try "".write(toFile: recipe.sshd.directory.file("authorized_keys"), atomically: true, encoding: .utf8)
            key = recipe.work.file("id_\(keyType)")
            try runChecked("ssh-keygen", ["-q", "-t", keyType, "-N", "", "-f", key])
        }

        /// Signs the key's public half; the certificate lands at `key-cert.pub`, moved to `path` when given.
        @discardableResult
        func certify(validity: String = "-5m:+1h", to path: String? = nil) throws -> String {
            try runChecked("ssh-keygen", ["-q", "-s", ca, "-I", "ftptunnel-test", "-n", recipe.sshd.user, "-V", validity, key + ".pub"])
            guard let path else { return key + "-cert.pub" }
            try FileManager.default.moveItem(atPath: key + "-cert.pub", toPath: path)
            return path
        }

        func tunnel(_ extra: [String] = [], identity: String? = nil, environment: [String: String] = [:],
                    waitForReady: Bool = true) throws -> TunnelProcess {
            do {
                return try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                         passivePorts: recipe.passivePorts, identity: identity ?? key, extraArguments: extra,
                                         environment: environment, waitForReady: waitForReady)
            } catch {
                Issue.record("sshd log:\n\(recipe.sshd.log)")
                throw error
            }
        }
    }

    @Test func bareKeyIsRefusedWhenOnlyTheCAIsTrusted() throws {
        let world = try CertificateWorld()
        let tunnel = try world.tunnel(waitForReady: false)
        #expect(try tunnel.process.waitForExit(seconds: 30) == 4, "\(tunnel.output)")
        #expect(tunnel.output.contains("authentication as \(world.recipe.sshd.user)@"), "\(tunnel.output)")
    }

    @Test func certificateBesideTheKeyLogsIn() throws {
        let world = try CertificateWorld()
        try world.certify()
        let tunnel = try world.tunnel()
        try downloadWorks(world.recipe, tunnel)
        let accepted = try acceptedLine(world.recipe.sshd)
        #expect(accepted.contains("ECDSA-CERT") && accepted.contains("ID ftptunnel-test"), "\(world.recipe.sshd.log)")
    }

    @Test func certificateFileLogsIn() throws {
        let world = try CertificateWorld()
        let certificate = try world.certify(to: world.recipe.work.file("elsewhere-cert.pub"))
        let tunnel = try world.tunnel(["-o", "CertificateFile=\(certificate)"])
        try downloadWorks(world.recipe, tunnel)
        #expect(try acceptedLine(world.recipe.sshd).contains("ECDSA-CERT"), "\(world.recipe.sshd.log)")
    }

    @Test func certificateInTheAgentLogsIn() throws {
        let world = try CertificateWorld()
        try world.certify()
        let agent = try TunnelAgent()
        try agent.add(world.key)  // ssh-add adds key-cert.pub beside the key too
        try FileManager.default.removeItem(atPath: world.key)
        let tunnel = try TunnelProcess(sshd: world.recipe.sshd, knownHosts: world.recipe.knownHosts, ftpPort: world.recipe.ftpPort,
                                       passivePorts: world.recipe.passivePorts, identity: nil,
                                       environment: ["SSH_AUTH_SOCK": agent.socket])
        try downloadWorks(world.recipe, tunnel)
        #expect(try acceptedLine(world.recipe.sshd).contains("ECDSA-CERT"), "\(world.recipe.sshd.log)")
    }

    @Test func expiredCertificateIsNamedBeforeItIsTried() throws {
        let world = try CertificateWorld()
        let certificate = try world.certify(validity: "20200101:20200102")
        let tunnel = try world.tunnel(waitForReady: false)
        #expect(try tunnel.process.waitForExit(seconds: 30) == 4, "\(tunnel.output)")
        #expect(tunnel.output.contains("certificate \(certificate) expired at 2020-01-02"), "\(tunnel.output)")
    }

    @Test func ed25519CertificateIsNamedBeforeItIsTried() throws {
        let world = try CertificateWorld(keyType: "ed25519")
        let certificate = try world.certify()
        let tunnel = try world.tunnel(waitForReady: false)
        #expect(try tunnel.process.waitForExit(seconds: 30) == 4, "\(tunnel.output)")
        #expect(tunnel.output.contains("certificate \(certificate) is an ed25519 certificate, which libssh2 1.10 cannot log in with (it names the signature ssh-ed25519-cert-v01@openssh.com where sshd expects ssh-ed25519"),
                "\(tunnel.output)")
        #expect(!tunnel.output.contains("tried: certificate"), "\(tunnel.output)")
    }

    @Test func showListsEveryIdentityWithItsOrigin() throws {
        let world = try CertificateWorld()
        let certificate = try world.certify(to: world.recipe.work.file("elsewhere-cert.pub"))
        let rsa = world.recipe.work.file("id_rsa")
        try runChecked("ssh-keygen", ["-q", "-t", "rsa", "-b", "2048", "-N", "secret", "-f", rsa])
        let agent = try TunnelAgent()
        let other = world.recipe.work.file("agent_only")
        try runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "agent-only-key", "-f", other])
        try agent.add(other)
        let home = try TempDirectory("show-home")
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = home.path
        environment["SSH_AUTH_SOCK"] = agent.socket
        environment["FTPTUNNEL_SSH_CONFIG"] = "none"
        let show = try runCommand(try Products.ftptunnel, [
            "show", "\(world.recipe.sshd.user)@\(world.recipe.sshd.host):\(world.recipe.sshd.port)",
            "-i", world.key, "-i", rsa, "-o", "CertificateFile=\(certificate)",
            "-o", "CertificateFile=\(world.recipe.work.file("missing-cert.pub"))",
        ], environment: environment)
        #expect(show.status == 0, "\(show.output)")
        let lines = show.stdout.split(separator: "\n").map(String.init)
        let offered = lines.filter { $0.hasPrefix("#   ") }
        #expect(offered.count == 4, "\(show.stdout)")
        guard offered.count == 4 else { return }
        #expect(offered[0].contains("1. ecdsa-sha2-nistp256-cert-v01@openssh.com: CertificateFile \(certificate) with key \(world.key)"), "\(offered[0])")
        #expect(offered[1].contains("2. ssh-ed25519: ssh-agent (agent-only-key)"), "\(offered[1])")
        #expect(offered[2].contains("3. ecdsa-sha2-nistp256: IdentityFile \(world.key)"), "\(offered[2])")
        #expect(offered[3].contains("4. ssh-rsa, passphrase, signed as rsa-sha2-512 (rsa-sha2-256 if refused): IdentityFile \(rsa)"), "\(offered[3])")
        #expect(lines.contains { $0.hasPrefix("CertificateFile") && $0.contains(certificate) }, "\(show.stdout)")
        #expect(lines.contains("# identity note: certificate \(world.recipe.work.file("missing-cert.pub")) does not exist or cannot be read; check CertificateFile; skipping it"),
                "\(show.stdout)")
    }
}
