import Foundation
import Logging
import FTPCore
import TunnelCore
import Testing
import TestSupport
@testable import ftptunnel

/// The check's FTP client straight against real servers on 127.0.0.2 (no tunnel): replies, login, LIST over
/// EPSV and PASV, refusal to follow an address elsewhere, deadlines.
@Suite(.serialized) struct CheckProbeClientTests {
    static let logger = Logger(label: "check-probe-test")

    static func fastTimeouts() -> FTPProbeClient.Timeouts {
        var timeouts = FTPProbeClient.Timeouts()
        timeouts.reply = 2
        timeouts.connect = 2
        timeouts.list = 2
        return timeouts
    }

    @Test func listsOverEPSVAndPASVAgainstVsftpd() throws {
        let root = try TempDirectory("probe-root")
        try TestFiles.random(at: root.file("listed.bin"), size: 100)
        let vsftpd = try VsftpdFixture(root: root.path)
        let client = try FTPProbeClient(host: vsftpd.host, port: vsftpd.port, logger: Self.logger)
        #expect(try client.readBanner().code == 220)
        let feat = try client.command("FEAT")
        #expect(feat.code == 211 && feat.lines.count > 2, "\(feat)")
        try client.logIn(user: "anonymous") { Issue.record("anonymous needs no prompt"); return nil }
        let epsv = try client.command("EPSV")
        #expect(client.list(over: epsv) == .worked)
        let pasv = try client.command("PASV")
        #expect(pasv.lines[0].contains("(127,0,0,2,"), "\(pasv)")
        #expect(client.list(over: pasv) == .worked)
        let range = PortRange(lower: vsftpd.passivePorts.lowerBound, upper: vsftpd.passivePorts.upperBound)!
        #expect(client.list(over: try client.command("PASV"), allowedPorts: range) == .worked)
        let outside = PortRange(lower: 1, upper: 2)!
        guard case .failed(let why) = client.list(over: try client.command("PASV"), allowedPorts: outside) else {
            Issue.record("a port outside PassivePorts must fail"); return
        }
        #expect(why.contains("outside PassivePorts 1-2"), "\(why)")
        client.quit()
    }

    @Test func neverFollowsAnAddressOtherThanItsOwn() throws {
        let root = try TempDirectory("probe-root")
        let vsftpd = try VsftpdFixture(root: root.path, pasvAddress: "127.0.0.1")
        let client = try FTPProbeClient(host: vsftpd.host, port: vsftpd.port, logger: Self.logger)
        _ = try client.readBanner()
        try client.logIn(user: "anonymous") { nil }
        let result = client.list(over: try client.command("PASV"))
        #expect(result == .failed("the reply points to 127.0.0.1:\(result.port ?? 0), not to the tunnel's 127.0.0.2"), "\(result)")
        #expect(client.list(over: FTPReply(code: 227, lines: ["227 Entering Passive Mode"])) == .failed("no passive endpoint in the reply"))
        #expect(client.list(over: FTPReply(code: 500, lines: ["500 no"])) == .failed("no passive endpoint in the reply"))
    }

    @Test func passwordIsAskedForNamedUsersOnly() throws {
        let root = try TempDirectory("probe-root")
        let server = try PyftpdlibUserFixture(root: root.path, user: "bob", password: "s3cret")
        let client = try FTPProbeClient(host: server.host, port: server.port, logger: Self.logger)
        _ = try client.readBanner()
        var asked = 0
        try client.logIn(user: "bob") { asked += 1; return "s3cret" }
        #expect(asked == 1)
        #expect(client.list(over: try client.command("EPSV")) == .worked)

        let second = try FTPProbeClient(host: server.host, port: server.port, logger: Self.logger)
        _ = try second.readBanner()
        #expect(throws: FTPProbeError.noPassword(user: "bob")) { try second.logIn(user: "bob") { nil } }
    }

    @Test func silentServerTimesOutAndClosingServerIsReported() throws {
        let port = try LoopbackNet.freePort(on: LoopbackNet.serverSide)
        let server = try ManagedProcess("/usr/bin/python3", ["-c", """
        import socket, sys
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.2", \(port))); s.listen(4); print("listening", flush=True)
        silent, _ = s.accept()
        closing, _ = s.accept(); closing.sendall(b"220-first line of a greeting\\r\\n"); closing.close()
        sys.stdin.read()
        """])
        defer { server.stop() }
        try server.waitForOutput(containing: "listening")
        let silent = try FTPProbeClient(host: LoopbackNet.serverSide, port: port, timeouts: Self.fastTimeouts(), logger: Self.logger)
        #expect(throws: FTPProbeError.timedOut("waiting for the server's greeting")) { try silent.readBanner() }
        let closing = try FTPProbeClient(host: LoopbackNet.serverSide, port: port, timeouts: Self.fastTimeouts(), logger: Self.logger)
        #expect(throws: FTPProbeError.closedByServer(while: "waiting for the server's greeting")) { try closing.readBanner() }
    }

    @Test func refusedConnectionNamesTheAddress() throws {
        let port = try LoopbackNet.freePort(on: LoopbackNet.serverSide)
        #expect(throws: FTPProbeError.connectFailed(host: LoopbackNet.serverSide, port: port, reason: "Connection refused")) {
            _ = try FTPProbeClient(host: LoopbackNet.serverSide, port: port, timeouts: Self.fastTimeouts(), logger: Self.logger)
        }
    }
}

extension ServerDiagnosis.ListResult {
    /// The port named in a "points to HOST:PORT" failure (for building the expected text).
    fileprivate var port: Int? {
        guard case .failed(let text) = self, let range = text.range(of: "127.0.0.1:") else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }
}
