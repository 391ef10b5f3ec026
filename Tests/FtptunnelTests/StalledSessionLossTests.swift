import Foundation
import Testing
import TestSupport

/// A session killed while every channel on it waits for a stalled client is declared lost within seconds, not when
/// the client next reads. With `Sessions 3` a download's data channel sits alone on its session (its control
/// connection is on another): once the client stops reading, the tunnel stops reading that channel. Left in the SSH
/// socket, the server's data filled it (zero window), so the dead sshd's FIN stayed queued behind it on the server's
/// host and the loss was noticed only when the client read on (measured: 60 s, the client's own limit). Real sshd,
/// real vsftpd, Python's ftplib; 64 MiB behind a 16 MiB window, so the server is still sending when the session dies.
@Suite(.serialized) struct StalledSessionLossTests {
    @Test func aSessionKilledBehindAStalledDownloadIsDeclaredLostAtOnce() throws {
        let world = try DropWorld(.vsftpd, name: "stalled-loss", fileBytes: 64 << 20,
                                  extraArguments: ["-o", "Sessions=3", "-o", "DataWindow=16M"])
        try Deadline.wait(for: "three SSH sessions", seconds: 30) { world.sshd.sessionProcesses.count == 3 }
        let go = world.work.file("go")
        let client = try world.client("RETR", remote: "down.bin", go: go)
        try client.waitForOutput(containing: "STARTED", seconds: 60)
        let ports = try #require(DropWorld.ports(client.output), "\(client.output)")
        let control = try #require(world.session(ofClientPort: ports.control), "\(world.tunnel.output)")
        let data = try Deadline.value(of: "the data connection's session", seconds: 10) { world.session(ofClientPort: ports.data) }
        #expect(control != data, "the pool puts the data connection on a session of its own\n\(world.tunnel.output)")
        // Everything between the stalled client and vsftpd fills up: vsftpd's data socket holds bytes it cannot send.
        try Deadline.wait(for: "the stalled download to back up to the server", seconds: 30) {
            ProcessSockets.sendQueues(localHost: LoopbackNet.serverSide, ports: world.passivePorts).contains { $0 > 0 }
        }
        // The sshd session process connected to vsftpd's passive port carries the data channel.
        let victim = try #require(world.sshd.sessionProcesses.first { pid in
            ProcessSockets.connectedRemotePorts(pid).contains { world.passivePorts.contains($0) }
        })
        let killed = Date()
        world.sshd.killSession(victim)
        // The client is still stalled: only the SSH session can tell the tunnel.
        try Deadline.wait(for: "the tunnel to declare the killed session lost while its client is stalled", seconds: 5) {
            world.tunnel.output.contains("reconnecting in")
        }
        let noticed = Date().timeIntervalSince(killed)
        #expect(FileManager.default.createFile(atPath: go, contents: nil))
        _ = try client.waitForExit(seconds: 90)
        let verdict = try #require(DropWorld.verdict(client.output), "\(client.output)")
        print("session killed behind a stalled download (Sessions 3, 64 MiB, DataWindow 16M): loss noticed after \(String(format: "%.2f", noticed)) s; client: \(verdict.joined(separator: " ").prefix(100))")
        // Its data channel was lost mid-file: the data connection is reset and the transfer fails (never a 226).
        #expect(verdict[0] == "FAILED", "\(client.output)\n\(world.tunnel.output)")
        try Deadline.wait(for: "the lost session to come back", seconds: 30) {
            world.tunnel.output.contains("reconnected after") && world.sshd.sessionProcesses.count == 3
        }
        #expect(world.tunnel.process.isRunning)
    }
}
