import Foundation
import Testing
import TestSupport

/// ServerAliveInterval/ServerAliveCountMax against a real sshd: a hung server (session processes stopped, TCP
/// up) ends the tunnel within interval × (count + 1) + 1 s; a healthy idle server answers every probe.
@Suite(.serialized) struct ServerAliveTests {
    static let aliveOptions = ["-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=2", "-o", "Reconnect=no", "-v"]
    /// 2 × (2 + 1) + 1 s, plus slack for a loaded machine.
    static let detectionLimit = 12.0

    /// Stops the session processes and measures until the tunnel exits; returns (status, seconds, output).
    private func freezeAndWait(_ recipe: TunnelRecipe, _ tunnel: TunnelProcess) throws -> (Int32, Double, String) {
        let freeze = try ProcessFreeze.sessions(of: recipe.sshd)
        defer { freeze.thaw() }
        let start = Date()
        let status = try tunnel.process.waitForExit(seconds: Self.detectionLimit)
        return (status, Date().timeIntervalSince(start), tunnel.output)
    }

    /// A tunnel with ServerAlive 2/2 and a curl download through it (20 MB/s) that has begun.
    private func startDownload(mebibytes: Int) throws -> (TunnelRecipe, TunnelProcess, ManagedProcess, String) {
        let recipe = try TunnelRecipe(server: .pasvd)
        try TunnelPayload.random(at: recipe.root.file("big.bin"), mebibytes: mebibytes)
        let tunnel = try recipe.tunnel(extraArguments: Self.aliveOptions)
        let download = recipe.work.file("down.bin")
        let curl = try ManagedProcess(try which("curl"), ["-sS", "--max-time", "120", "--limit-rate", "20M",
                                                          "\(tunnel.url)/big.bin", "-o", download])
        try Deadline.wait(for: "the download to start", seconds: 30) { TestFiles.size(download) > 1 << 20 }
        return (recipe, tunnel, curl, download)
    }

    @Test func idleTunnelToAHungServerEndsWithinTheLimit() throws {
        let recipe = try TunnelRecipe(server: .pasvd)
        let tunnel = try recipe.tunnel(extraArguments: Self.aliveOptions)
        try TestFiles.random(at: recipe.root.file("f.bin"), size: 1 << 20)
        let before = try FTPClients.curl(["\(tunnel.url)/f.bin", "-o", recipe.work.file("f.bin")])
        #expect(before.status == 0, "\(before.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("f.bin")) == TestFiles.sha256(recipe.root.file("f.bin")))

        let (status, seconds, output) = try freezeAndWait(recipe, tunnel)
        print("ServerAlive 2/2, idle tunnel: hung server detected \(String(format: "%.2f", seconds)) s after SIGSTOP")
        #expect(status == 6, "\(output)")
        #expect(output.contains("SSH server stopped answering"), "\(output)")
        #expect(output.contains("server-alive probe sent"), "\(output)")
        // Not some other failure right away: the last answer came at most one interval before the freeze.
        #expect(seconds >= 3, "\(output)")
        #expect(!LoopbackNet.listeningSockets().contains("127.0.0.1:\(tunnel.localPort)"))
    }

    @Test func downloadFromAHungServerEndsWithinTheLimit() throws {
        let (recipe, tunnel, curl, download) = try startDownload(mebibytes: 256)

        let (status, seconds, output) = try freezeAndWait(recipe, tunnel)
        print("ServerAlive 2/2, mid-download: hung server detected \(String(format: "%.2f", seconds)) s after SIGSTOP")
        #expect(status == 6, "\(output)")
        #expect(output.contains("SSH server stopped answering"), "\(output)")
        #expect(try curl.waitForExit(seconds: 30) != 0)
        #expect(TestFiles.size(download) < TestFiles.size(recipe.root.file("big.bin")))
    }

    /// ServerAliveInterval 1 (probes every 2 s, libssh2's shortest), count 2: a healthy server answers every probe,
    /// the idle tunnel stays up and then transfers byte-exact.
    @Test func healthyIdleServerAnswersEveryProbeAndTheTunnelStaysUp() throws {
        let recipe = try TunnelRecipe(server: .pasvd)
        let tunnel = try recipe.tunnel(extraArguments: ["-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=2", "-v"])
        let answered = { tunnel.output.components(separatedBy: "server-alive probe answered").count - 1 }
        try Deadline.wait(for: "three probes answered", seconds: 20) { answered() >= 3 || !tunnel.process.isRunning }
        #expect(tunnel.process.isRunning, "\(tunnel.output)")
        #expect(!tunnel.output.contains("stopped answering"), "\(tunnel.output)")

        try TestFiles.random(at: recipe.root.file("f.bin"), size: 4 << 20)
        let result = try FTPClients.curl(["\(tunnel.url)/f.bin", "-o", recipe.work.file("f.bin")])
        #expect(result.status == 0, "\(result.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("f.bin")) == TestFiles.sha256(recipe.root.file("f.bin")))
        #expect(tunnel.process.isRunning, "\(tunnel.output)")
    }

    /// A local client that stops reading mid-download is no hung server: the tunnel keeps answering probes and the
    /// download completes byte-exact once the client reads again.
    @Test func stalledLocalClientDoesNotEndTheSession() throws {
        let (recipe, tunnel, curl, download) = try startDownload(mebibytes: 64)
        let answered = { tunnel.output.components(separatedBy: "server-alive probe answered").count - 1 }
        let before = answered()
        let stalled = ProcessFreeze([curl.pid])
        try Deadline.wait(for: "three probes answered while the client is stopped", seconds: 40) {
            answered() >= before + 3 || !tunnel.process.isRunning
        }
        stalled.thaw()
        #expect(tunnel.process.isRunning, "\(tunnel.output)")
        #expect(try curl.waitForExit(seconds: 60) == 0, "\(curl.output)")
        #expect(try TestFiles.sha256(download) == TestFiles.sha256(recipe.root.file("big.bin")))
        #expect(tunnel.process.isRunning, "\(tunnel.output)")
    }

    /// With Reconnect (the default) a hung server is a lost session: the tunnel reconnects (the listening sshd still
    /// accepts) and new transfers work again within 15 s while the old session is still frozen.
    @Test func hungServerIsReconnectedAndTransfersWorkAgain() throws {
        let recipe = try TunnelRecipe(server: .pasvd)
        let tunnel = try recipe.tunnel(extraArguments: ["-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=2", "-v"])
        try TestFiles.random(at: recipe.root.file("f.bin"), size: 1 << 20)
        let freeze = try ProcessFreeze.sessions(of: recipe.sshd)
        defer { freeze.thaw() }
        let start = Date()
        try Deadline.wait(for: "the reconnect in the log", seconds: 15) { tunnel.output.contains("reconnected after") }
        let result = try FTPClients.curl(["\(tunnel.url)/f.bin", "-o", recipe.work.file("f.bin")], seconds: 15)
        let seconds = Date().timeIntervalSince(start)
        print("ServerAlive 2/2 + Reconnect: transfer works again \(String(format: "%.2f", seconds)) s after SIGSTOP")
        #expect(result.status == 0, "\(result.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("f.bin")) == TestFiles.sha256(recipe.root.file("f.bin")))
        #expect(seconds < 15, "\(tunnel.output)")
        #expect(tunnel.output.contains("SSH server stopped answering"), "\(tunnel.output)")
        #expect(freeze.pids.allSatisfy { kill($0, 0) == 0 }, "the old session is still there, frozen")
        #expect(tunnel.process.isRunning, "\(tunnel.output)")
    }
}
