import Foundation
import Testing
import TestSupport

/// known_hosts files that are not clean UTF-8 with LF line ends, against a real sshd through the built binary:
/// no byte on one line may switch the changed-key check off, CRLF files work, appending keeps the file readable.
@Suite(.serialized) struct KnownHostsBytesTests {
    private func writeBytes(_ bytes: [UInt8], to path: String) throws -> String {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    private func contents(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    /// The file: another key recorded for the server, then `# caf\xe9` (Latin-1). Under every policy that
    /// could add or ask, the server's key is a changed key: exit 3, no question (askpass answers yes and leaves a
    /// mark), nothing listening, the file untouched.
    @Test(arguments: ["accept-new", "ask", "yes"])
    func latin1CommentDoesNotTurnOffTheChangedKeyCheck(policy: String) throws {
        let recipe = try TunnelRecipe()
        let otherKey = recipe.work.file("other_host_key")
        try runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", otherKey])
        let bytes = Array("[127.0.0.1]:\(recipe.sshd.port) \(SSHDFixture.publicKey(of: otherKey))\n# caf".utf8) + [0xE9, 0x0A]
        let file = try writeBytes(bytes, to: recipe.work.file("latin1_known_hosts"))
        let run = try recipe.hostKeyRun(knownHosts: file, policy: policy)
        let (status, output) = (run.status, run.output)
        #expect(status == 3, "\(output)")
        #expect(output.contains("REMOTE HOST IDENTIFICATION HAS CHANGED"), "\(output)")
        #expect(output.contains("ssh-ed25519 \(try SSHDFixture.fingerprint(of: otherKey)) (\(file):1)"), "\(output)")
        #expect(!output.contains("Permanently added"), "\(output)")
        #expect(!output.contains("not known"), "\(output)")
        #expect(!run.asked, "asked the new-host question")
        #expect(!LoopbackNet.listeningSockets().contains("127.0.0.1:\(run.localPort)"))
        #expect(try contents(file) == bytes)
    }

    /// A file written with CRLF line ends (a comment, then the right key) is read as OpenSSH reads it: the key is
    /// known (StrictHostKeyChecking yes would refuse anything else), data flows, hashed at both ends.
    @Test func crlfFileConnectsWithTheRightKey() throws {
        let recipe = try TunnelRecipe()
        let bytes = Array("# copied from a Windows machine\r\n\(recipe.sshd.knownHostsLine)\r\n".utf8)
        let file = try writeBytes(bytes, to: recipe.work.file("crlf_known_hosts"))
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: file, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                       extraArguments: ["-o", "StrictHostKeyChecking=yes", "-v"])
        try TestFiles.random(at: recipe.root.file("f.bin"), size: 256 << 10)
        let result = try FTPClients.curl(["\(tunnel.url)/f.bin", "-o", recipe.work.file("f.bin")])
        #expect(result.status == 0, "\(result.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("f.bin")) == TestFiles.sha256(recipe.root.file("f.bin")))
        #expect(tunnel.output.contains("host key matches"), "\(tunnel.output)")
        #expect(!tunnel.output.contains("CHANGED"), "\(tunnel.output)")
        #expect(try contents(file) == bytes)
    }

    /// accept-new appends to a CRLF file whose last line has no line end: the new line gets a line of its own in
    /// the file's style, the old lines stay as they were, and the next run (StrictHostKeyChecking yes) finds it.
    /// A line that cannot be read is named (file:line) and skipped; the rest of the file counts.
    @Test func acceptNewAppendsToACRLFFileWithoutFinalLineEnd() throws {
        let recipe = try TunnelRecipe()
        let before = Array("# managed\r\nnot a key line\r\nexample.org ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl".utf8)
        let file = try writeBytes(before, to: recipe.work.file("crlf_open_known_hosts"))
        let first = try TunnelProcess(sshd: recipe.sshd, knownHosts: file, ftpPort: recipe.ftpPort,
                                      passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                      extraArguments: ["-o", "StrictHostKeyChecking=accept-new"])
        #expect(first.output.contains("Permanently added"), "\(first.output)")
        #expect(first.output.contains("\(file):2: line ignored"), "\(first.output)")
        first.stop()
        #expect(try contents(file) == before + Array("\r\n\(recipe.sshd.knownHostsLine)\r\n".utf8))

        let second = try TunnelProcess(sshd: recipe.sshd, knownHosts: file, ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                       extraArguments: ["-o", "StrictHostKeyChecking=yes"])
        #expect(!second.output.contains("Permanently added"), "\(second.output)")
        try TestFiles.random(at: recipe.root.file("g.bin"), size: 64 << 10)
        let result = try FTPClients.curl(["\(second.url)/g.bin", "-o", recipe.work.file("g.bin")])
        #expect(result.status == 0, "\(result.output)\n\(second.output)")
        #expect(try TestFiles.sha256(recipe.work.file("g.bin")) == TestFiles.sha256(recipe.root.file("g.bin")))
    }

    /// `--known-hosts kh` (a bare relative name) is a file in the working directory: accept-new records the key
    /// there instead of failing with a Foundation error dump.
    @Test func relativeKnownHostsNameIsAFileInTheWorkingDirectory() throws {
        let recipe = try TunnelRecipe()
        let tunnel = try TunnelProcess(sshd: recipe.sshd, knownHosts: "kh", ftpPort: recipe.ftpPort,
                                       passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                       extraArguments: ["-o", "StrictHostKeyChecking=accept-new"],
                                       currentDirectory: recipe.work.path)
        #expect(tunnel.output.contains("Permanently added"), "\(tunnel.output)")
        #expect(!tunnel.output.contains("NSCocoaErrorDomain"), "\(tunnel.output)")
        #expect(try String(contentsOfFile: recipe.work.file("kh"), encoding: .utf8) == recipe.sshd.knownHostsLine + "\n")
    }
}
