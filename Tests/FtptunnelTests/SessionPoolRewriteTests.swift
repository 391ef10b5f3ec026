import Foundation
import Testing
import TestSupport

/// `Sessions 2` in rewrite mode: the one-shot data listeners' connections are spread over both sessions.
/// Stock vsftpd (advertises 127.0.0.2), real curl, SHA-256 at both ends.
@Suite(.serialized) struct SessionPoolRewriteTests {
    static let downloads = 4
    static let fileMiB = 32

    @Test func rewriteModeSpreadsDataConnectionsOverTwoSessions() throws {
        let sshd = try SSHDFixture()
        let root = try TempDirectory("pool-rw-root")
        let work = try TempDirectory("pool-rw-work")
        let knownHosts = try sshd.writeKnownHosts(in: work)
        let vsftpd = try VsftpdFixture(root: root.path, passivePortCount: 16, writable: true)
        try TunnelPayload.random(at: root.file("down.bin"), mebibytes: Self.fileMiB)
        try TunnelPayload.random(at: work.file("up.bin"), mebibytes: Self.fileMiB)
        let tunnel = try RewriteTunnelProcess(sshd: sshd, knownHosts: knownHosts, ftpPort: vsftpd.port,
                                              extraArguments: ["-o", "Sessions=2"])
        let curl = try which("curl")
        var transfers: [(ManagedProcess, String)] = []
        for index in 0..<Self.downloads {
            transfers.append((try ManagedProcess(curl, ["-sS", "--max-time", "300", "\(tunnel.url)/down.bin",
                                                        "-o", work.file("d\(index).bin")]), "download \(index)"))
        }
        transfers.append((try ManagedProcess(curl, ["-sS", "--max-time", "300", "-T", work.file("up.bin"),
                                                    "\(tunnel.url)/upload/up.bin"]), "upload"))
        for (process, name) in transfers {
            #expect(try process.waitForExit(seconds: 310) == 0, "\(name): \(process.output)\n\(tunnel.output)")
        }
        for index in 0..<Self.downloads {
            #expect(try TestFiles.sha256(work.file("d\(index).bin")) == TestFiles.sha256(root.file("down.bin")), "download \(index)")
        }
        #expect(try TestFiles.sha256(root.file("upload/up.bin")) == TestFiles.sha256(work.file("up.bin")))
        let lines = tunnel.output.split(whereSeparator: \.isNewline)
        #expect(lines.contains { $0.contains("session=2 ") && $0.contains("channel open") }, "\(tunnel.output)")
        #expect(lines.contains { $0.contains("session=1 ") && $0.contains("channel open") }, "\(tunnel.output)")
    }
}
