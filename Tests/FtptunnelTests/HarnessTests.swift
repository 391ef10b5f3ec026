import Foundation
import Testing
import TestSupport

/// The peers every tunnel test relies on start and answer (checked directly, without a tunnel).
@Suite(.serialized) struct HarnessTests {
    /// `make test` runs these suites twice, debug and release: each run must drive its own build's executables.
    @Test func executablesComeFromTheConfigurationUnderTest() throws {
        for executable in [try Products.ftptunnel, try Products.pasvd] {
            let directory = ((executable as NSString).deletingLastPathComponent as NSString).lastPathComponent
            #expect(directory == Products.configuration, "\(executable) is not a \(Products.configuration) product")
        }
    }

    @Test func sshdAcceptsTheGeneratedUserKey() throws {
        let sshd = try SSHDFixture()
        let work = try TempDirectory()
        let knownHosts = try sshd.writeKnownHosts(in: work)
        let result = try runCommand("ssh", [
            "-i", sshd.userKey, "-p", "\(sshd.port)", "-o", "UserKnownHostsFile=\(knownHosts)",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "\(sshd.user)@\(sshd.host)", "echo", "tunnel-ok",
        ], seconds: 30)
        #expect(result.status == 0, "\(result.output)\n\(sshd.log)")
        #expect(result.stdout.contains("tunnel-ok"))
    }

    @Test func vsftpdServesAFileByteForByte() throws {
        let root = try TempDirectory("vsroot")
        try TestFiles.random(at: root.file("sample.bin"), size: 3 << 20)
        let vsftpd = try VsftpdFixture(root: root.path, pasvAddress: "127.0.0.1")
        let out = try TempDirectory()
        let result = try FTPClients.curl(["--ftp-skip-pasv-ip", "\(vsftpd.url)/sample.bin", "-o", out.file("got.bin")])
        #expect(result.status == 0, "\(result.output)")
        #expect(try TestFiles.sha256(out.file("got.bin")) == TestFiles.sha256(root.file("sample.bin")))
    }
}
