import Foundation
import Testing
import TestSupport

/// libssh2 keeps one channel open in flight per session. A passive port that swallows SYNs keeps the SSH server's
/// connect (and so that open) waiting for about two minutes; the tunnel must not make anyone else wait for it.
@Suite(.serialized) struct HeadOfLineTests {
    static let bystanders = 3
    /// Greeting, login, listing and a 1 MiB download per bystander, while the stuck open waits.
    static let worstBystanderSeconds = 5.0
    /// ForwardingLoop.openDeadline plus slack for the loop's wake-up.
    static let stuckClientAnsweredSeconds = 15.0 + 10

    @Test func aStuckChannelOpenDelaysNoOtherConnection() throws {
        let world = try RewriteTransferTests.World(mebibytes: 1)
        let blackHole = try BlackHolePort()
        #expect(try blackHole.swallowsConnects(), "the black-holed port answered a connect")
        let server = try PyftpdlibFixture(root: world.root.path, firstPASVPort: blackHole.port)
        let tunnel = try world.tunnel(ftpPort: server.port)

        // The stuck client: its PASV names the black-holed port, and its data connection's channel open hangs.
        let stuck = try RawFTPControl(host: LoopbackNet.clientSide, port: tunnel.localPort)
        #expect(stuck.readReply()?.hasPrefix("220") == true)
        #expect(stuck.command("USER anonymous")?.hasPrefix("331") == true)
        #expect(stuck.command("PASS test@")?.hasPrefix("230") == true)
        let pasv = try #require(stuck.command("PASV"), "\(tunnel.output)")
        let dataPort = try #require(Self.port(of: pasv), "\(pasv)")
        let stuckData = try #require(LoopbackNet.connect(LoopbackNet.clientSide, dataPort))
        defer { close(stuckData) }
        try Deadline.wait(for: "the tunnel to accept the stuck data connection", seconds: 10) {
            tunnel.output.contains("port=\(dataPort) ") && tunnel.output.contains("connection accepted")
        }

        let started = Date()
        var clients: [(name: String, process: ManagedProcess)] = []
        for index in 0..<Self.bystanders {
            let name = "bystander\(index).bin"
            clients.append((name, try ManagedProcess(try which("curl"), [
                "-sS", "--max-time", "60", "\(tunnel.url)/down.bin", "-o", world.work.file(name),
            ])))
        }
        var worst = 0.0
        for client in clients {
            let status = try client.process.waitForExit(seconds: 90)
            worst = max(worst, Date().timeIntervalSince(started))
            #expect(status == 0, "\(client.name): \(client.process.output)\n\(tunnel.output)")
            try world.expectDownloaded(client.name, tunnel.output)
        }
        print("head-of-line: worst bystander finished \(String(format: "%.2f", worst)) s after start, while one channel open was stuck")
        #expect(worst < Self.worstBystanderSeconds, "bystanders waited behind the stuck open: \(worst) s\n\(tunnel.output)")
        #expect(tunnel.output.contains("opening another session"), "\(tunnel.output)")

        // The stuck client is answered (its data connection closed) after the open deadline, not after sshd's
        // two-minute connect time-out; the tunnel keeps serving.
        var byte: UInt8 = 0
        let closedAt = Date()
        var timeout = timeval(tv_sec: Int(Self.stuckClientAnsweredSeconds), tv_usec: 0)
        setsockopt(stuckData, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let n = read(stuckData, &byte, 1)
        #expect(n == 0 || (n < 0 && errno == ECONNRESET), "the stuck data connection was not closed (read \(n), errno \(errno))")
        #expect(Date().timeIntervalSince(closedAt) < Self.stuckClientAnsweredSeconds)
        #expect(tunnel.output.contains("has not opened the channel"), "\(tunnel.output)")
        try RewriteRobustnessTests.expectTransferWorks(world, tunnel, name: "after.bin")
    }

    /// The port of a 227 reply's last two numbers.
    static func port(of reply: String) -> Int? {
        guard let open = reply.firstIndex(of: "("), let close = reply.firstIndex(of: ")") else { return nil }
        let numbers = reply[reply.index(after: open)..<close].split(separator: ",").compactMap { Int($0) }
        guard numbers.count == 6 else { return nil }
        return numbers[4] * 256 + numbers[5]
    }
}
