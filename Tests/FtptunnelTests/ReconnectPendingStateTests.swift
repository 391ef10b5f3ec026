import Foundation
import Testing
import TestSupport

/// State a command leaves for the next one survives a lost SSH session in rewrite mode, through the real
/// ftptunnel binary, a real sshd whose session processes are killed, and real pasvd and vsftpd driven by Python
/// ftplib on one control connection: REST 50 then the drop then STOR keeps the file's first 50 bytes (never a
/// rewrite from 0), RETR sends from offset 50, and RNFR then the drop then RNTO renames the right file or is
/// refused. Every file is hashed against the bytes it must hold.
@Suite(.serialized) struct ReconnectPendingStateTests {
    typealias World = RewriteTransferTests.World

    enum Server: String, CaseIterable, CustomStringConvertible {
        case pasvd, vsftpd
        var description: String { rawValue }
    }

    /// A site served by `server`, its writable `upload/` holding `r.bin` (100 random bytes), and a tunnel to it.
    final class Site {
        let world: World
        let tunnel: RewriteTunnelProcess
        private let ftpServer: AnyObject

        init(_ server: Server) throws {
            world = try World(mebibytes: 1)
            switch server {
            case .pasvd:
                let pasvd = try PasvdFixture(root: world.root.path, extraArguments: ["--anonymous", "--writable",
                                                                                     "--anonymous-account", PasvdScenario.runnerAccount])
                (ftpServer, tunnel) = (pasvd, try world.tunnel(ftpPort: pasvd.port))
            case .vsftpd:
                let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
                (ftpServer, tunnel) = (vsftpd, try world.tunnel(ftpPort: vsftpd.port))
            }
            try TestFiles.random(at: file("r.bin"), size: 100)
            chmod(file("r.bin"), 0o666)
        }

        func file(_ name: String) -> String { world.root.file("upload/\(name)") }

        /// An ftplib client logged in anonymously in `upload/`, binary, running `body`.
        func client(_ body: String, _ arguments: [String] = []) throws -> ManagedProcess {
            try ReconnectTests.ftplibClient(tunnel, "ftp.cwd(\"upload\")\nftp.voidcmd(\"TYPE I\")\n" + body, arguments)
        }

        /// Kills every sshd process of the tunnel's sessions (the listening sshd stays) and waits until the tunnel
        /// has noticed; it reconnects by itself.
        func dropSessions() throws {
            let lost = { self.tunnel.output.components(separatedBy: "SSH session lost").count - 1 }
            let before = lost()
            let sessions = world.sshd.sessionProcesses
            try #require(!sessions.isEmpty, "no SSH session to drop")
            for session in sessions { world.sshd.killSession(session) }
            try Deadline.wait(for: "the tunnel to notice the lost session", seconds: 20) { lost() > before }
        }
    }

    @Test(arguments: Server.allCases)
    func restThenDropThenStorKeepsTheFirst50Bytes(_ server: Server) throws {
        let site = try Site(server)
        let original = try Data(contentsOf: URL(fileURLWithPath: site.file("r.bin")))
        let upload = site.world.work.file("three.bin")
        try Data([0xA1, 0xB2, 0xC3]).write(to: URL(fileURLWithPath: upload))
        let client = try site.client("""
        print("rest", ftp.sendcmd("REST 50"), flush=True)
        sys.stdin.readline()
        with open(sys.argv[2], "rb") as f:
            print("stor", ftp.storbinary("STOR r.bin", f), flush=True)
        ftp.quit()
        """, [upload])
        try client.waitForOutput(containing: "rest 350")
        try site.dropSessions()
        client.send("go\n")
        #expect(try client.waitForExit(seconds: 60) == 0, "\(client.output)\n\(site.tunnel.output)")
        #expect(client.output.contains("stor 226"), "\(client.output)")
        // pasvd ends the file after the upload; vsftpd writes over bytes 50…52 and keeps the rest.
        var written = original
        written.replaceSubrange(50..<53, with: [0xA1, 0xB2, 0xC3])
        let expected = site.world.work.file("expected.bin")
        try (server == .pasvd ? original.prefix(50) + Data([0xA1, 0xB2, 0xC3]) : written).write(to: URL(fileURLWithPath: expected))
        #expect(TestFiles.size(site.file("r.bin")) == (server == .pasvd ? 53 : 100), "\(client.output)\n\(site.tunnel.output)")
        #expect(try TestFiles.sha256(site.file("r.bin")) == TestFiles.sha256(expected), "the first 50 bytes kept, the new ones at 50")
        #expect(site.tunnel.output.contains("FTP session resumed"), "\(site.tunnel.output)")
    }

    @Test(arguments: Server.allCases)
    func restThenDropThenRetrSendsFromOffset50(_ server: Server) throws {
        let site = try Site(server)
        let original = try Data(contentsOf: URL(fileURLWithPath: site.file("r.bin")))
        let originalHash = try TestFiles.sha256(site.file("r.bin"))
        let received = site.world.work.file("tail.bin")
        let client = try site.client("""
        print("rest", ftp.sendcmd("REST 50"), flush=True)
        sys.stdin.readline()
        with open(sys.argv[2], "wb") as f:
            print("retr", ftp.retrbinary("RETR r.bin", f.write), flush=True)
        ftp.quit()
        """, [received])
        try client.waitForOutput(containing: "rest 350")
        try site.dropSessions()
        client.send("go\n")
        #expect(try client.waitForExit(seconds: 60) == 0, "\(client.output)\n\(site.tunnel.output)")
        let expected = site.world.work.file("expected.bin")
        try original.suffix(50).write(to: URL(fileURLWithPath: expected))
        #expect(TestFiles.size(received) == 50, "\(client.output)\n\(site.tunnel.output)")
        #expect(try TestFiles.sha256(received) == TestFiles.sha256(expected), "bytes 50…99 of the file")
        #expect(try TestFiles.sha256(site.file("r.bin")) == originalHash, "the file is untouched")
    }

    /// RNFR, the drop, RNTO: the source is renamed to the target. Then again with the source removed while the
    /// session is away: the RNTO is refused and the existing target keeps its content.
    @Test(arguments: Server.allCases)
    func rnfrThenDropThenRntoRenamesTheRightFileOrIsRefused(_ server: Server) throws {
        let site = try Site(server)
        let source = try TestFiles.sha256(site.file("r.bin"))
        try TestFiles.random(at: site.file("gone.bin"), size: 64, seed: 7)
        try TestFiles.random(at: site.file("kept.bin"), size: 80, seed: 8)
        let kept = try TestFiles.sha256(site.file("kept.bin"))
        let client = try site.client("""
        print("rnfr", ftp.sendcmd("RNFR r.bin"), flush=True)
        sys.stdin.readline()
        print("rnto", ftp.sendcmd("RNTO renamed.bin"), flush=True)
        print("rnfr2", ftp.sendcmd("RNFR gone.bin"), flush=True)
        sys.stdin.readline()
        try:
            print("rnto2", ftp.sendcmd("RNTO kept.bin"), flush=True)
        except ftplib.all_errors as e:
            print("rnto2-refused", str(e)[:3], flush=True)
        ftp.quit()
        """)
        try client.waitForOutput(containing: "rnfr 350")
        try site.dropSessions()
        client.send("go\n")
        try client.waitForOutput(containing: "rnfr2 350")
        #expect(client.output.contains("rnto 250"), "\(client.output)\n\(site.tunnel.output)")
        #expect(!FileManager.default.fileExists(atPath: site.file("r.bin")))
        #expect(try TestFiles.sha256(site.file("renamed.bin")) == source, "the renamed file is the RNFR's source")

        try site.dropSessions()
        try FileManager.default.removeItem(atPath: site.file("gone.bin"))
        client.send("go\n")
        #expect(try client.waitForExit(seconds: 60) == 0, "\(client.output)\n\(site.tunnel.output)")
        #expect(client.output.contains("rnto2-refused"), "\(client.output)\n\(site.tunnel.output)")
        #expect(try TestFiles.sha256(site.file("kept.bin")) == kept, "the target is untouched")
        #expect(try TestFiles.sha256(site.file("renamed.bin")) == source)
        let names = try FileManager.default.contentsOfDirectory(atPath: site.world.root.file("upload")).sorted()
        #expect(names == ["kept.bin", "renamed.bin"], "nothing else renamed or left behind: \(names)")
    }
}
