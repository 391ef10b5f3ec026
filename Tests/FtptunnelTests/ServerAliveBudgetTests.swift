import Foundation
import Testing
import TestSupport

/// ServerAlive never expires: libssh2 1.10 keeps every keepalive reply, so a session is replaced (planned, while
/// nothing runs on it) before its probe budget runs out. The budget is made small with the hidden
/// FTPTUNNEL_SERVER_ALIVE_BUDGET; real ftptunnel, sshd, pasvd and Python ftplib.
@Suite(.serialized) struct ServerAliveBudgetTests {
    /// Probes every 2 s (libssh2's shortest), count 2; a budget of 4 wants replacement after 3 probes.
    static let aliveOptions = ["-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=2"]
    static let budget = ["FTPTUNNEL_SERVER_ALIVE_BUDGET": "4"]

    static func count(_ text: String, in output: String) -> Int { output.components(separatedBy: text).count - 1 }
    static let replaced = "planned replacement of the SSH session"

    final class Site {
        let world: RewriteTransferTests.World
        let pasvd: PasvdFixture
        let tunnel: RewriteTunnelProcess

        init(_ extra: [String] = []) throws {
            world = try ReconnectTests.world()
            pasvd = try PasvdFixture(root: world.root.path, extraArguments: ["--anonymous", "--writable",
                                                                             "--anonymous-account", PasvdScenario.runnerAccount])
            tunnel = try RewriteTunnelProcess(sshd: world.sshd, knownHosts: world.knownHosts, ftpPort: pasvd.port,
                                              extraArguments: ServerAliveBudgetTests.aliveOptions + extra,
                                              environment: ServerAliveBudgetTests.budget)
        }

        var replacements: Int { ServerAliveBudgetTests.count(ServerAliveBudgetTests.replaced, in: tunnel.output) }
    }

    /// The budget is used up twice over and the session replaced each time while an ftplib session sits idle in
    /// `sub/`; then the same control connection downloads byte-exact, still in `sub/`. Then the server hangs
    /// (session processes stopped): ServerAlive still notices it within interval × (count + 1) plus slack.
    @Test func anIdleSessionIsReplacedInvisiblyAndAHungServerIsStillDetected() throws {
        let site = try Site()
        let client = try ReconnectTests.ftplibClient(site.tunnel, ReconnectTests.idleInSubdirectoryThenRetrieve,
                                                     [site.world.work.file("after.bin")])
        try client.waitForOutput(containing: "logged-in")
        let start = Date()
        let resumed = { Self.count("FTP session resumed", in: site.tunnel.output) }
        try Deadline.wait(for: "two planned replacements, the FTP session resumed on each", seconds: 60) {
            (site.replacements >= 2 && resumed() >= 2) || !site.tunnel.process.isRunning
        }
        print("ServerAlive budget 4 at 2 s: two planned replacements \(String(format: "%.1f", Date().timeIntervalSince(start))) s after the login")
        #expect(site.tunnel.process.isRunning, "\(site.tunnel.output)")
        #expect(!site.tunnel.output.contains("no more probes"), "replaced before the budget ran out: \(site.tunnel.output)")

        client.send("go\n")
        #expect(try client.waitForExit(seconds: 60) == 0, "\(client.output)\n\(site.tunnel.output)")
        try site.world.expectDownloaded("after.bin", site.tunnel.output)
        #expect(client.output.contains("pwd /sub\n"), "\(client.output)")

        let freeze = try ProcessFreeze.sessions(of: site.world.sshd)
        defer { freeze.thaw() }
        let frozenAt = Date()
        try Deadline.wait(for: "the hung server to be noticed", seconds: ServerAliveTests.detectionLimit) {
            site.tunnel.output.contains("SSH server stopped answering")
        }
        print("ServerAlive after two replacements: hung server noticed \(String(format: "%.2f", Date().timeIntervalSince(frozenAt))) s after SIGSTOP")
    }

    /// A data listener waits for its connection (PASV answered): the session is not replaced however many probes
    /// it sends; it retires at the end of its budget and says so. Once the transfer is done it is replaced, and the
    /// new session notices a hung server (session processes stopped).
    @Test func aSessionWithATransferBeingSetUpIsNotReplacedUntilIdle() throws {
        let site = try Site()
        let client = try ReconnectTests.ftplibClient(site.tunnel, """
        ftp.voidcmd("TYPE I")
        host, port = ftp.makepasv()
        print("pasv", port, flush=True)
        sys.stdin.readline()
        import socket
        data = socket.create_connection((host, port), timeout=30)
        ftp.putcmd("RETR down.bin")
        print("reply", ftp.getresp()[:3], flush=True)
        with open(sys.argv[2], "wb") as f:
            while True:
                chunk = data.recv(1 << 16)
                if not chunk: break
                f.write(chunk)
        data.close()
        print("done", ftp.voidresp()[:3], flush=True)
        ftp.quit()
        """, [site.world.work.file("held.bin")])
        try client.waitForOutput(containing: "pasv ")
        try Deadline.wait(for: "the budget to run out", seconds: 60) {
            site.tunnel.output.contains("no more probes") || !site.tunnel.process.isRunning
        }
        #expect(site.replacements == 0, "never replaced while a data connection is being set up: \(site.tunnel.output)")
        client.send("go\n")
        #expect(try client.waitForExit(seconds: 60) == 0, "\(client.output)\n\(site.tunnel.output)")
        #expect(client.output.contains("done 226"), "\(client.output)")
        try site.world.expectDownloaded("held.bin", site.tunnel.output)
        try Deadline.wait(for: "the replacement once idle", seconds: 30) { site.replacements >= 1 }

        // The budget was spent to the end on the old session; the new one still notices a hung server.
        try Deadline.wait(for: "the new session", seconds: 30) { site.tunnel.output.contains("reconnected after") }
        let freeze = try ProcessFreeze.sessions(of: site.world.sshd)
        defer { freeze.thaw() }
        let frozenAt = Date()
        try Deadline.wait(for: "the hung server to be noticed", seconds: ServerAliveTests.detectionLimit) {
            site.tunnel.output.contains("SSH server stopped answering")
        }
        print("ServerAlive after a spent budget and a replacement: hung server noticed \(String(format: "%.2f", Date().timeIntervalSince(frozenAt))) s after SIGSTOP")
    }

    /// `Reconnect no`: nothing can replace the session, and the log says so once; it probes to the end of its
    /// budget and goes on carrying transfers byte-exact.
    @Test func withoutReconnectTheSessionIsKeptAndTheLogSaysSo() throws {
        let site = try Site(["-o", "Reconnect=no"])
        try Deadline.wait(for: "the budget to run out", seconds: 60) {
            site.tunnel.output.contains("no more probes") || !site.tunnel.process.isRunning
        }
        #expect(Self.count("cannot be replaced", in: site.tunnel.output) == 1, "\(site.tunnel.output)")
        #expect(site.replacements == 0 && site.tunnel.process.isRunning, "\(site.tunnel.output)")
        let result = try FTPClients.curl(["\(site.tunnel.url)/down.bin", "-o", site.world.work.file("kept.bin")])
        #expect(result.status == 0, "\(result.output)\n\(site.tunnel.output)")
        try site.world.expectDownloaded("kept.bin", site.tunnel.output)
    }

    /// Fixed mode: a tunnel nobody uses is replaced like any other (its listeners stay), and then serves a
    /// download byte-exact.
    @Test func anUnusedFixedModeTunnelIsReplacedAndStillServes() throws {
        let recipe = try TunnelRecipe(server: .pasvd)
        try TestFiles.random(at: recipe.root.file("f.bin"), size: 2 << 20)
        let tunnel = try recipe.tunnel(extraArguments: Self.aliveOptions, environment: Self.budget)
        try Deadline.wait(for: "a planned replacement and the new session", seconds: 60) {
            (Self.count(Self.replaced, in: tunnel.output) >= 1 && tunnel.output.contains("reconnected after"))
                || !tunnel.process.isRunning
        }
        #expect(tunnel.process.isRunning, "\(tunnel.output)")
        let result = try FTPClients.curl(["\(tunnel.url)/f.bin", "-o", recipe.work.file("f.bin")])
        #expect(result.status == 0, "\(result.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("f.bin")) == TestFiles.sha256(recipe.root.file("f.bin")))
    }
}
