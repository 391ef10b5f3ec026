import Foundation
import Testing
import TestSupport

/// Commands that would open a data path outside SSH never reach the server, in fixed and in rewrite mode: a
/// recording server behind a real sshd and a real tunnel shows every line it received.
@Suite(.serialized) struct TunnelVerbGuardTests {
    /// Commands a server must never see through the tunnel, with the reply code the tunnel gives instead.
    static let refusedInBothModes: [(line: String, code: String)] = [
        ("LPRT 4,4,127,0,0,1,2,4,1", "502"), ("LPSV", "502"), ("SPSV", "502"), ("P@SW", "502"),
        ("XYZZ secret", "502"), ("%%%", "500"),
    ]
    static let activeMode: [(line: String, code: String)] = [("PORT 127,0,0,1,4,1", "502"), ("EPRT |1|127.0.0.1|1025|", "502")]

    @Test func fixedModePassesNoActiveModeLongAddressOrUnknownCommand() throws {
        let sshd = try SSHDFixture()
        let work = try TempDirectory("verb-guard")
        let server = try RecordingFTPServer()
        let tunnel = try TunnelProcess(sshd: sshd, knownHosts: try sshd.writeKnownHosts(in: work), ftpPort: server.port,
                                       passivePorts: try LoopbackNet.freePortRange(count: 2), identity: sshd.userKey)
        try expectRefused(Self.refusedInBothModes + Self.activeMode, port: tunnel.localPort, server: server, log: tunnel.output)
    }

    @Test func rewriteModePassesNoLongAddressOrUnknownCommand() throws {
        let sshd = try SSHDFixture()
        let work = try TempDirectory("verb-guard")
        let server = try RecordingFTPServer()
        let tunnel = try RewriteTunnelProcess(sshd: sshd, knownHosts: try sshd.writeKnownHosts(in: work), ftpPort: server.port)
        try expectRefused(Self.refusedInBothModes, port: tunnel.localPort, server: server, log: tunnel.output)
    }

    /// Logs in, sends each line (each answered by the tunnel with its code), then NOOP as a marker: once the
    /// server has the NOOP, it has everything the tunnel passed before it.
    private func expectRefused(_ lines: [(line: String, code: String)], port: Int, server: RecordingFTPServer,
                               log: @autoclosure () -> String) throws {
        let control = try RawFTPControl(host: LoopbackNet.clientSide, port: port)
        #expect(control.readReply()?.hasPrefix("220") == true)
        #expect(control.command("USER anonymous")?.hasPrefix("331") == true)
        #expect(control.command("PASS x")?.hasPrefix("230") == true)
        for (line, code) in lines {
            let reply = control.command(line) ?? "(connection closed)"
            #expect(reply.hasPrefix(code), "\(line) → \(reply)\n\(log())")
        }
        #expect(control.command("NOOP")?.hasPrefix("200") == true)
        let received = server.receivedLines
        #expect(received.contains { $0.contains("NOOP") }, "\(received)")
        for (line, _) in lines {
            let verb = line.split(separator: " ")[0]
            #expect(!received.contains { $0.contains(verb) }, "the server received \(line): \(received)")
        }
    }
}
