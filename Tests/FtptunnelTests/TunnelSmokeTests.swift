import Foundation
import Testing
import TestSupport

@Suite(.serialized) struct TunnelSmokeTests {
    @Test func curlDownloadsThroughTheTunnel() throws {
        let sshd = try SSHDFixture()
        let work = try TempDirectory()
        let knownHosts = try sshd.writeKnownHosts(in: work)
        let root = try TempDirectory("vsroot")
        try TestFiles.random(at: root.file("small.bin"), size: 5 << 20)
        let vsftpd = try VsftpdFixture(root: root.path, pasvAddress: "127.0.0.1", writable: true)
        let tunnel = try TunnelProcess(sshd: sshd, knownHosts: knownHosts, ftpPort: vsftpd.port,
                                       passivePorts: vsftpd.passivePorts, identity: sshd.userKey)
        let result = try FTPClients.curl(["\(tunnel.url)/small.bin", "-o", work.file("got.bin")])
        #expect(result.status == 0, "\(result.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(work.file("got.bin")) == TestFiles.sha256(root.file("small.bin")))
        print(tunnel.output)
    }
}
