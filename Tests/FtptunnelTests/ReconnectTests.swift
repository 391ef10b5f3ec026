import Foundation
import Testing
import TestSupport

/// The tunnel stays up across a lost SSH session: listeners stay, it reconnects with backoff, rewrite-mode FTP
/// sessions resume where they were (login, directory, TYPE replayed), and a server that comes back with another
/// host key is refused.
@Suite(.serialized) struct ReconnectTests {
    typealias World = RewriteTransferTests.World

    /// An ftplib client that logs in, enters `sub`, prints "logged-in", waits for a line on stdin, then downloads
    /// `sub.bin` into argv[2] and prints its directory: the session must survive whatever happened while it waited.
    static let idleInSubdirectoryThenRetrieve = """
        ftp.cwd("sub")
        ftp.voidcmd("TYPE I")
        print("logged-in", flush=True)
        sys.stdin.readline()
        with open(sys.argv[2], "wb") as f:
            ftp.retrbinary("RETR sub.bin", f.write)
        print("pwd", ftp.pwd(), flush=True)
        ftp.quit()
        """

    /// A Python ftplib client of `tunnel` logged in anonymously, running `body` (argv[2…] are `arguments`).
    static func ftplibClient(_ tunnel: RewriteTunnelProcess, _ body: String, _ arguments: [String]) throws -> ManagedProcess {
        try ManagedProcess("/usr/bin/python3", ["-u", "-c", """
        import ftplib, sys, time
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=60)
        ftp.login("anonymous", "test@")
        \(body)
        """, "\(tunnel.localPort)"] + arguments)
    }

    /// A site with a `sub/` directory holding `sub.bin`.
    static func world() throws -> World {
        let world = try World(mebibytes: 8)
        try FileManager.default.createDirectory(atPath: world.root.file("sub"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: world.root.file("down.bin"), toPath: world.root.file("sub/sub.bin"))
        return world
    }

    /// Python ftplib never reconnects by itself: log in, CWD, (the SSH session is lost and comes back), then RETR
    /// on the same FTP object, byte-exact, still in the same directory.
    @Test func ftplibSessionSurvivesAnSSHServerRestart() throws {
        let world = try Self.world()
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
        let tunnel = try world.tunnel(ftpPort: vsftpd.port)
        let client = try Self.ftplibClient(tunnel, Self.idleInSubdirectoryThenRetrieve, [world.work.file("across.bin")])
        try client.waitForOutput(containing: "logged-in")

        let lostAt = Date()
        world.sshd.kill()
        try Deadline.wait(for: "the tunnel to notice the lost session", seconds: 20) { tunnel.output.contains("SSH session lost") }
        #expect(tunnel.process.isRunning)
        #expect(LoopbackNet.isListening(LoopbackNet.clientSide, tunnel.localPort), "the listener must stay open")
        try world.sshd.restart()
        let restartedAt = Date()
        client.send("go\n")
        #expect(try client.waitForExit(seconds: 90) == 0, "\(client.output)\n\(tunnel.output)")
        try world.expectDownloaded("across.bin", tunnel.output)
        #expect(client.output.contains("/sub\n"), "\(client.output)")
        try Deadline.wait(for: "the reconnect in the log", seconds: 5) { tunnel.output.contains("reconnected after") }
        #expect(tunnel.output.contains("FTP session resumed"), "\(tunnel.output)")
        print("reconnect: session lost noticed and back \(String(format: "%.1f", Date().timeIntervalSince(restartedAt))) s after sshd returned (\(String(format: "%.1f", restartedAt.timeIntervalSince(lostAt))) s after the kill); ftplib's RETR across the drop byte-exact")

        // New clients work as before.
        try RewriteRobustnessTests.expectTransferWorks(world, tunnel, name: "after-restart.bin")
        let lftp = try FTPClients.lftp(url: tunnel.url, script: ["get sub/sub.bin -o \(world.work.file("lftp-after.bin"))"])
        #expect(lftp.status == 0, "\(lftp.output)")
        try world.expectDownloaded("lftp-after.bin", tunnel.output)
    }

    /// A transfer in progress when the session drops gets 426 (its data connection is gone, and reset); the client
    /// resumes with REST on the same control connection and the file is byte-exact.
    @Test func aTransferCutByTheDropResumesWithRest() throws {
        let world = try World(mebibytes: 64)
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
        let tunnel = try world.tunnel(ftpPort: vsftpd.port)
        let client = try Self.ftplibClient(tunnel, """
        out = open(sys.argv[2], "wb")
        got = [0]
        def sink(chunk):
            out.write(chunk); got[0] += len(chunk)
            if got[0] >= 4 << 20 and not hasattr(sink, "told"):
                sink.told = True
                print("halfway", flush=True)
                time.sleep(0.05)
        try:
            ftp.retrbinary("RETR down.bin", sink, blocksize=65536)
            print("finished-without-drop")
        except ftplib.all_errors as e:
            print("interrupted", str(e)[:3], flush=True)
            if isinstance(e, OSError):
                # The data connection was reset (the tunnel resets a data connection whose data did not arrive
                # whole): the transfer's final reply still waits on the control connection.
                try:
                    print("then", ftp.voidresp()[:3], flush=True)
                except ftplib.all_errors as reply:
                    print("then", str(reply)[:3], flush=True)
        out.flush()
        sys.stdin.readline()
        ftp.retrbinary("RETR down.bin", out.write, rest=out.tell())
        out.close()
        print("resumed", flush=True)
        ftp.quit()
        """, [world.work.file("resumed.bin")])
        try client.waitForOutput(containing: "halfway", seconds: 60)
        world.sshd.kill()
        try client.waitForOutput(containing: "interrupted", seconds: 60)
        try world.sshd.restart()
        client.send("go\n")
        #expect(try client.waitForExit(seconds: 120) == 0, "\(client.output)\n\(tunnel.output)")
        #expect(client.output.contains("interrupted 426") || client.output.contains("then 426"), "\(client.output)")
        try world.expectDownloaded("resumed.bin", "\(client.output)\n\(tunnel.output)")
    }

    /// The server comes back with another host key: refused (exit 3), nothing listens any more.
    @Test func aServerReturningWithAnotherHostKeyIsRefused() throws {
        let world = try World(mebibytes: 1)
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
        let tunnel = try world.tunnel(ftpPort: vsftpd.port)
        world.sshd.kill()
        try Deadline.wait(for: "the tunnel to notice the lost session", seconds: 20) { tunnel.output.contains("SSH session lost") }
        try world.sshd.restart(withNewHostKey: true)
        let status = try tunnel.process.waitForExit(seconds: 60)
        #expect(status == 3, "\(tunnel.output)")
        #expect(tunnel.output.contains("presented host key"), "\(tunnel.output)")
        #expect(!LoopbackNet.isListening(LoopbackNet.clientSide, tunnel.localPort))
    }

    /// `ReconnectAttempts 2` against a server that stays away: two failed attempts, then exit 6.
    @Test func reconnectAttemptsAreBounded() throws {
        let world = try World(mebibytes: 1)
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
        let tunnel = try world.tunnel(ftpPort: vsftpd.port, ["-o", "ReconnectAttempts=2", "-o", "ConnectTimeout=2"])
        world.sshd.kill()
        let status = try tunnel.process.waitForExit(seconds: 60)
        #expect(status == 6, "\(tunnel.output)")
        #expect(tunnel.output.contains("giving up after 2 failed reconnect attempt(s)"), "\(tunnel.output)")
    }

    /// A client that connects while the session is away waits for it; once sshd is back it is served.
    @Test func aClientArrivingWhileDisconnectedIsServedOnceTheSessionIsBack() throws {
        let world = try World(mebibytes: 2)
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
        let tunnel = try world.tunnel(ftpPort: vsftpd.port)
        world.sshd.kill()
        try Deadline.wait(for: "the tunnel to notice the lost session", seconds: 20) { tunnel.output.contains("SSH session lost") }
        let curl = try ManagedProcess(try which("curl"), ["-sS", "--max-time", "60", "\(tunnel.url)/down.bin", "-o", world.work.file("waited.bin")])
        try world.sshd.restart()
        #expect(try curl.waitForExit(seconds: 90) == 0, "\(curl.output)\n\(tunnel.output)")
        try world.expectDownloaded("waited.bin", tunnel.output)
    }
}
