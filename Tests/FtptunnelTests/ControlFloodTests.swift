import Foundation
import Testing
import TestSupport

/// Any local user can reach the control port: a flood of commands the tunnel answers itself (AUTH TLS, 534) while a
/// server reply is pending must not grow the tunnel's memory, and must not disturb other clients.
@Suite(.serialized) struct ControlFloodTests {
    static let floodMiB = 40
    static let maximumGrowthMiB = 64
    /// How long the flooder keeps pushing before it gives up and leaves (the tunnel stops reading it).
    static let floodSeconds = 8

    @Test func authFloodBehindAPendingReplyStaysBounded() throws {
        let world = try RewriteTransferTests.World(mebibytes: 1)
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
        let tunnel = try world.tunnel(ftpPort: vsftpd.port)
        let before = try #require(ProcessMemory.residentBytes(tunnel.pid))

        // RETR after PASV with no data connection: vsftpd's reply stays pending, so every 534 waits behind it.
        let flooder = try ManagedProcess("/usr/bin/python3", ["-c", """
        import socket, sys, time
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        f = s.makefile("rb")
        def reply():
            line = f.readline()
            while line[3:4] == b"-": line = f.readline()
            return line
        reply()
        for c in (b"USER anonymous", b"PASS x@", b"TYPE I", b"PASV"):
            s.sendall(c + b"\\r\\n"); reply()
        s.sendall(b"RETR down.bin\\r\\n")
        chunk = b"AUTH TLS\\r\\n" * 104857
        total, end = 0, time.time() + int(sys.argv[3])
        s.settimeout(1)
        while total < int(sys.argv[2]) * 1048576 and time.time() < end:
            try:
                total += s.send(chunk)
            except socket.timeout:
                pass
        print("sent", total, flush=True)
        s.close()
        """, "\(tunnel.localPort)", "\(Self.floodMiB)", "\(Self.floodSeconds)"])

        var peak = before
        while flooder.isRunning {
            peak = max(peak, ProcessMemory.residentBytes(tunnel.pid) ?? 0)
            // Measurement cadence, not synchronisation: the loop ends when the flooder exits.
            usleep(50_000)
        }
        #expect(try flooder.waitForExit(seconds: 30) == 0, "\(flooder.output)")
        let growth = peak - before
        print("control flood: \(flooder.output.trimmingCharacters(in: .whitespacesAndNewlines)) bytes; tunnel RSS \(before >> 20) MiB before, peak \(peak >> 20) MiB (+\(growth >> 20) MiB)")
        #expect(growth < Self.maximumGrowthMiB << 20, "RSS grew by \(growth >> 20) MiB\n\(tunnel.output)")

        // Other clients keep working, and the tunnel lets go of what the flooder left.
        try RewriteRobustnessTests.expectTransferWorks(world, tunnel, name: "after-flood.bin")
        try Deadline.wait(for: "the tunnel's memory to return near its level before the flood", seconds: 20) {
            (ProcessMemory.residentBytes(tunnel.pid) ?? Int.max) < before + (Self.maximumGrowthMiB << 20) / 4
        }
        #expect(tunnel.process.isRunning)
    }
}
