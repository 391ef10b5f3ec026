import Foundation
import Testing
import TestSupport

/// A `Sessions 2` rewrite-mode tunnel in front of stock vsftpd (advertising 127.0.0.2) with `down.bin` of
/// `mebibytes` in its root.
final class PoolRewriteWorld: @unchecked Sendable {
    let sshd: SSHDFixture
    let root: TempDirectory
    let work: TempDirectory
    let vsftpd: VsftpdFixture
    let tunnel: RewriteTunnelProcess

    /// - Parameter passivePorts: well above the concurrent transfers: vsftpd gives up a PASV (500 OOPS) after 9
    ///   random picks of busy ports.
    init(name: String, mebibytes: Int, passivePorts: Int = 64) throws {
        sshd = try SSHDFixture()
        root = try TempDirectory("\(name)-root")
        work = try TempDirectory("\(name)-work")
        let knownHosts = try sshd.writeKnownHosts(in: work)
        vsftpd = try VsftpdFixture(root: root.path, passivePortCount: passivePorts, writable: true)
        try TunnelPayload.random(at: root.file("down.bin"), mebibytes: mebibytes)
        tunnel = try RewriteTunnelProcess(sshd: sshd, knownHosts: knownHosts, ftpPort: vsftpd.port,
                                          extraArguments: ["-o", "Sessions=2"])
    }

    func expectDownloaded(_ name: String) throws {
        #expect(try TestFiles.sha256(work.file(name)) == TestFiles.sha256(root.file("down.bin")), "\(name)\n\(tunnel.output)")
    }
}

/// `Sessions 2` in rewrite mode: the one-shot data listeners' connections are spread over both sessions.
/// Stock vsftpd (advertises 127.0.0.2), real curl, SHA-256 at both ends.
@Suite(.serialized) struct SessionPoolRewriteTests {
    static let downloads = 4
    static let fileMiB = 32

    @Test func rewriteModeSpreadsDataConnectionsOverTwoSessions() throws {
        let world = try PoolRewriteWorld(name: "pool-rw", mebibytes: Self.fileMiB)
        let (root, work, tunnel) = (world.root, world.work, world.tunnel)
        try TunnelPayload.random(at: work.file("up.bin"), mebibytes: Self.fileMiB)
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
        #expect(lines.contains { ($0.contains("session=2 ") || $0.contains("session=2)")) && $0.contains("channel open") }, "\(tunnel.output)")
        #expect(lines.contains { ($0.contains("session=1 ") || $0.contains("session=1)")) && $0.contains("channel open") }, "\(tunnel.output)")
    }
}

/// Active mode through a pool: the tunnel's connections to the clients' ports are spread over the sessions too, and
/// each PORT is still answered on its own control connection.
@Suite(.serialized) struct SessionPoolActiveModeTests {
    @Test func activeModeDataConnectionsUseEverySession() throws {
        let world = try PoolRewriteWorld(name: "pool-active", mebibytes: 8)
        let (work, tunnel) = (world.work, world.tunnel)
        let curl = try which("curl")
        let clients = try (0..<6).map { index in
            try ManagedProcess(curl, ["-sS", "--max-time", "120", "-P", "-", "\(tunnel.url)/down.bin", "-o", work.file("a\(index).bin")])
        }
        for (index, client) in clients.enumerated() {
            #expect(try client.waitForExit(seconds: 130) == 0, "active \(index): \(client.output)\n\(tunnel.output)")
            try world.expectDownloaded("a\(index).bin")
        }
        let lines = tunnel.output.split(whereSeparator: \.isNewline)
        #expect(lines.contains { ($0.contains("session=2 ") || $0.contains("session=2)")) && $0.contains("channel open") }, "\(tunnel.output)")
    }
}

/// Losing one session of a pool fails only the connections on it; the others keep transferring, and the lost
/// session is replaced in the background.
@Suite(.serialized) struct SessionPoolLossTests {
    static let downloads = 8
    static let fileMiB = 16

    @Test func losingOneSessionOfTwoFailsOnlyItsOwnTransfers() throws {
        let world = try PoolRewriteWorld(name: "pool-loss", mebibytes: Self.fileMiB)
        let (sshd, root, work, tunnel) = (world.sshd, world.root, world.work, world.tunnel)
        try Deadline.wait(for: "two SSH sessions", seconds: 20) { sshd.sessionProcesses.count == 2 }
        let curl = try which("curl")
        var transfers: [ManagedProcess] = []
        for index in 0..<Self.downloads {
            transfers.append(try ManagedProcess(curl, ["-sS", "--max-time", "120", "--limit-rate", "4M",
                                                       "\(tunnel.url)/down.bin", "-o", work.file("d\(index).bin")]))
        }
        try Deadline.wait(for: "every download to be under way", seconds: 60) {
            (0..<Self.downloads).allSatisfy { TestFiles.size(work.file("d\($0).bin")) > 256 << 10 }
        }
        // The newest per-connection sshd carries session 2 (data connections only).
        let victim = try #require(sshd.sessionProcesses.last)
        sshd.killSession(victim)

        var completed = 0
        for (index, process) in transfers.enumerated() {
            let status = try process.waitForExit(seconds: 130)
            let size = TestFiles.size(work.file("d\(index).bin"))
            if status == 0 {
                completed += 1
                #expect(try TestFiles.sha256(work.file("d\(index).bin")) == TestFiles.sha256(root.file("down.bin")),
                        "download \(index) reported success but differs\n\(tunnel.output)")
            } else {
                #expect(size < Self.fileMiB << 20, "download \(index) failed (\(status)) although complete")
            }
        }
        print("pool loss: \(completed) of \(Self.downloads) downloads completed byte-exact after one of two sessions was killed")
        #expect(completed > 0 && completed < Self.downloads, "\(completed) completed\n\(tunnel.output)")
        #expect(tunnel.process.isRunning, "\(tunnel.output)")
        try Deadline.wait(for: "the lost session to be replaced", seconds: 30) { tunnel.output.contains("reconnected after") }
        let after = try FTPClients.curl(["\(tunnel.url)/down.bin", "-o", work.file("after.bin")])
        #expect(after.status == 0, "\(after.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(work.file("after.bin")) == TestFiles.sha256(root.file("down.bin")))
    }
}
