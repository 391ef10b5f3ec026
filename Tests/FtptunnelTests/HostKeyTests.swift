import Foundation
import Testing
import TestSupport

/// Host-key policy against a real sshd, through the built binary.
@Suite(.serialized) struct HostKeyTests {
    /// Starts ftptunnel expecting it to fail; returns (exit status, output).
    private func failingRun(_ recipe: TunnelRecipe, knownHosts: String, options: [String]) throws -> (Int32, String, Int) {
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: knownHosts, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                       extraArguments: options, waitForReady: false)
        let status = try tunnel.process.waitForExit(seconds: 30)
        return (status, tunnel.output, tunnel.localPort)
    }

    @Test func unknownHostWithStrictYesIsRefusedAndNothingListens() throws {
        let recipe = try TunnelRecipe()
        let empty = try recipe.work.write("empty_known_hosts", "")
        let (status, output, port) = try failingRun(recipe, knownHosts: empty, options: ["-o", "StrictHostKeyChecking=yes"])
        #expect(status == 3, "\(output)")
        #expect(output.contains("is not known"), "\(output)")
        #expect(output.contains("SHA256:"), "\(output)")
        #expect(!LoopbackNet.listeningSockets().contains("127.0.0.1:\(port)"))
        #expect(try String(contentsOfFile: empty, encoding: .utf8).isEmpty)
    }

    @Test func unknownHostWithoutTerminalDefaultsToRefusal() throws {
        let recipe = try TunnelRecipe()
        let empty = try recipe.work.write("empty_known_hosts", "")
        let (status, output, _) = try failingRun(recipe, knownHosts: empty, options: [])
        #expect(status == 3, "\(output)")
        #expect(output.contains("is not known"), "\(output)")
    }

    @Test func acceptNewAddsTheKeyAndTheSecondRunIsSilent() throws {
        let recipe = try TunnelRecipe()
        let file = recipe.work.file("new_known_hosts")
        let first = try TunnelProcess(sshd: recipe.sshd, knownHosts: file, ftpPort: recipe.ftpPort,
                                      passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                      extraArguments: ["-o", "StrictHostKeyChecking=accept-new"])
        #expect(first.output.contains("Permanently added"), "\(first.output)")
        first.stop()
        let recorded = try String(contentsOfFile: file, encoding: .utf8)
        #expect(recorded == recipe.sshd.knownHostsLine + "\n", "\(recorded)")

        let second = try TunnelProcess(sshd: recipe.sshd, knownHosts: file, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                       extraArguments: ["-o", "StrictHostKeyChecking=accept-new"])
        #expect(!second.output.contains("Permanently added"), "\(second.output)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == recorded)
    }

    /// `ask` puts the question to the user (here through SSH_ASKPASS, as OpenSSH does without a terminal).
    @Test func askPolicyAddsTheKeyOnlyWhenTheUserSaysYes() throws {
        let recipe = try TunnelRecipe()
        let file = recipe.work.file("asked_known_hosts")
        let answers = try TempDirectory("answers")
        let no = try TunnelProcess(sshd: recipe.sshd, knownHosts: file, ftpPort: recipe.ftpPort,
                                   passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                   extraArguments: ["-o", "StrictHostKeyChecking=ask"],
                                   environment: TunnelAskpass.environment(secret: "no", in: answers), waitForReady: false)
        #expect(try no.process.waitForExit(seconds: 30) == 3, "\(no.output)")
        #expect(no.output.contains("was not accepted"), "\(no.output)")
        let recorded = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
        #expect(recorded.isEmpty)

        let yes = try TunnelProcess(sshd: recipe.sshd, knownHosts: file, ftpPort: recipe.ftpPort,
                                    passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                    extraArguments: ["-o", "StrictHostKeyChecking=ask"],
                                    environment: TunnelAskpass.environment(secret: "yes", in: answers))
        #expect(yes.output.contains("Permanently added"), "\(yes.output)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == recipe.sshd.knownHostsLine + "\n")
    }

    @Test func hashedKnownHostsEntryIsAccepted() throws {
        let recipe = try TunnelRecipe()
        let file = try recipe.work.write("hashed_known_hosts", "# comment line\n" + recipe.sshd.knownHostsLine + "\n")
        try runChecked("ssh-keygen", ["-H", "-f", file])
        let hashed = try String(contentsOfFile: file, encoding: .utf8)
        #expect(hashed.contains("|1|"))
        #expect(!hashed.contains("[127.0.0.1]"))
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: file, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                       extraArguments: ["-o", "StrictHostKeyChecking=yes"])
        try TestFiles.random(at: recipe.root.file("f.bin"), size: 1 << 20)
        let result = try FTPClients.curl(["\(tunnel.url)/f.bin", "-o", recipe.work.file("f.bin")])
        #expect(result.status == 0, "\(result.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("f.bin")) == TestFiles.sha256(recipe.root.file("f.bin")))
    }

    @Test func changedKeyIsRefusedWithBothFingerprintsEvenWithAcceptNew() throws {
        let recipe = try TunnelRecipe()
        let other = recipe.work.file("other_host_key")
        try runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", other])
        let otherKey = try String(contentsOfFile: other + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        let file = try recipe.work.write("changed_known_hosts", "# first line\nexample.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n[127.0.0.1]:\(recipe.sshd.port) \(otherKey)\n")
        let (status, output, port) = try failingRun(recipe, knownHosts: file, options: ["-o", "StrictHostKeyChecking=accept-new"])
        #expect(status == 3, "\(output)")
        #expect(output.contains("CHANGED"), "\(output)")
        let recordedFingerprint = try runChecked("ssh-keygen", ["-l", "-f", other + ".pub"]).stdout.split(separator: " ")[1]
        let presentedFingerprint = try runChecked("ssh-keygen", ["-l", "-f", recipe.sshd.hostKey + ".pub"]).stdout.split(separator: " ")[1]
        #expect(output.contains(String(recordedFingerprint)), "\(output)")
        #expect(output.contains(String(presentedFingerprint)), "\(output)")
        #expect(output.contains("\(file):3"), "\(output)")
        #expect(!LoopbackNet.listeningSockets().contains("127.0.0.1:\(port)"))
        #expect(try String(contentsOfFile: file, encoding: .utf8).components(separatedBy: "\n").count == 4)
    }

    /// The MITM hole: known_hosts records an ed25519 key, the server holds only an ECDSA key. Whatever the policy
    /// this is a changed key (OpenSSH's HOST_CHANGED): exit 3 before any prompt, nothing listening, the file
    /// untouched, both fingerprints and the line to fix printed. `ask` answers "yes" and records being asked, so
    /// a prompt shown before the refusal would both be seen and let the key in.
    @Test(arguments: ["accept-new", "no", "yes", "ask"])
    func keyOfAnotherTypeThanTheRecordedOneIsRefusedUnderEveryPolicy(policy: String) throws {
        var options = SSHDFixture.Options()
        options.hostKeyTypes = ["ecdsa"]
        let recipe = try TunnelRecipe(sshd: options)
        let recordedKey = recipe.work.file("recorded_ed25519_key")
        try runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", recordedKey])
        let contents = "# first line\n[127.0.0.1]:\(recipe.sshd.port) \(SSHDFixture.publicKey(of: recordedKey))\n"
        let file = try recipe.work.write("ed25519_known_hosts", contents)
        let run = try recipe.hostKeyRun(knownHosts: file, policy: policy)
        let (status, output) = (run.status, run.output)
        #expect(status == 3, "\(output)")
        #expect(output.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "\(output)")
        #expect(output.contains("ecdsa-sha2-nistp256 key \(try SSHDFixture.fingerprint(of: recipe.sshd.hostKey))"), "\(output)")
        #expect(output.contains("ssh-ed25519 \(try SSHDFixture.fingerprint(of: recordedKey)) (\(file):2)"), "\(output)")
        #expect(!output.contains("Permanently added"), "\(output)")
        #expect(!run.asked, "asked before refusing")
        #expect(!LoopbackNet.listeningSockets().contains("127.0.0.1:\(run.localPort)"))
        #expect(try String(contentsOfFile: file, encoding: .utf8) == contents)
    }

    /// A server holding both key types presents the one on record (host-key algorithms are negotiated from
    /// known_hosts): no prompt, nothing added, and data flows. `StrictHostKeyChecking yes` fails on any other outcome.
    @Test(arguments: [0, 1])
    func serverWithBothKeyTypesPresentsTheRecordedOne(recordedIndex: Int) throws {
        var options = SSHDFixture.Options()
        options.hostKeyTypes = ["ed25519", "ecdsa"]
        let recipe = try TunnelRecipe(sshd: options)
        let contents = "[127.0.0.1]:\(recipe.sshd.port) \(SSHDFixture.publicKey(of: recipe.sshd.hostKeys[recordedIndex]))\n"
        let file = try recipe.work.write("one_type_known_hosts", contents)
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: file, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                       extraArguments: ["-o", "StrictHostKeyChecking=yes", "-v"])
        try TestFiles.random(at: recipe.root.file("f.bin"), size: 256 << 10)
        let result = try FTPClients.curl(["\(tunnel.url)/f.bin", "-o", recipe.work.file("f.bin")])
        #expect(result.status == 0, "\(result.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("f.bin")) == TestFiles.sha256(recipe.root.file("f.bin")))
        #expect(tunnel.output.contains("host key matches"), "\(tunnel.output)")
        #expect(!tunnel.output.contains("Permanently added"), "\(tunnel.output)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == contents)
    }
}
