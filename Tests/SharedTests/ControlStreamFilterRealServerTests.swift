import Foundation
import Testing
@testable import FTPCore
@testable import TunnelCore
import TestSupport

/// A synchronous stand-in for the forwarding loop: a scripted client, the filter, and a real server's control
/// connection. Data connections go straight to the targets the filter names, so a wrong target fails the transfer.
private final class RealServerFilterSession {
    let control: Int32
    var filter: ControlStreamFilter
    var conversation = ControlConversation()
    /// Everything the client received.
    var clientBytes: [UInt8] = []
    private var consumed = 0
    var passiveTargets: [ControlStreamFilter.DataID: PassiveEndpoint] = [:]
    var activeTargets: [ControlStreamFilter.DataID: PassiveEndpoint] = [:]
    /// Data connection opened for the active-mode conversion (the tunnel's side towards the server).
    var activeDataSocket: Int32?
    var logs: [String] = []

    init(host: String, port: Int, ftpHost: String) throws {
        control = try #require(LoopbackNet.connect(host, port))
        _ = fcntl(control, F_SETFL, fcntl(control, F_GETFL) | O_NONBLOCK)
        filter = ControlStreamFilter(.init(ftpHost: ftpHost))
    }

    deinit {
        close(control)
        if let activeDataSocket { close(activeDataSocket) }
    }

    func send(_ text: String) { perform(filter.clientUnits(conversation.commands(Array(text.utf8)))) }

    /// Waits for the next complete reply the client receives.
    func reply(_ what: String) throws -> FTPReply {
        try Deadline.value(of: what, seconds: 20) {
            pump()
            return nextReply()
        }
    }

    /// Sends a command and waits for its reply.
    func command(_ line: String) throws -> FTPReply {
        send(line + "\r\n")
        return try reply(line)
    }

    private func nextReply() -> FTPReply? {
        var parser = ReplyParser()
        var index = consumed
        while let newline = clientBytes[index...].firstIndex(of: 10) {
            let line = RawLineSplitter.content(of: Array(clientBytes[index...newline]))
            index = newline + 1
            if let reply = parser.feed(line: line) {
                consumed = index
                return reply
            }
        }
        return nil
    }

    private func pump() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(control, &buffer, buffer.count)
            guard n > 0 else { return }
            perform(filter.serverUnits(conversation.replies(buffer[0..<n])))
        }
    }

    private func perform(_ actions: [ControlStreamFilter.Action]) {
        for action in actions {
            switch action {
            case .sendToServer(let units):
                let bytes = units.flatMap(\.raw)
                var offset = 0
                while offset < bytes.count {
                    let n = bytes[offset...].withUnsafeBytes { write(control, $0.baseAddress, $0.count) }
                    if n > 0 { offset += n }
                }
            case .sendToClient(let bytes):
                clientBytes += bytes
            case .openPassiveListener(let id, let target, _):
                passiveTargets[id] = target
                perform(filter.listenerOpened(id, localPort: 40000 + id.rawValue))
            case .connectActive(let id, let server, _):
                activeTargets[id] = server
                activeDataSocket = LoopbackNet.connect(server.host ?? "", server.port)
                perform(activeDataSocket == nil ? filter.activeConnectFailed(id, reason: "connect failed") : filter.activeConnected(id))
            case .releaseData:
                break
            case .log(_, let message):
                logs.append(message)
            }
        }
    }
}

/// Reads a data connection to its end.
private func readAll(_ fd: Int32) -> [UInt8] {
    defer { close(fd) }
    var data: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &buffer, buffer.count)
        guard n > 0 else { return data }
        data += buffer[0..<n]
    }
}

private func sha256Hex(_ bytes: [UInt8]) -> String { Digest.sha256(bytes).map { String(format: "%02x", $0) }.joined() }

@Suite(.serialized) struct ControlStreamFilterRealServerTests {
    /// Stock vsftpd told to advertise an address that is wrong from everywhere (TEST-NET-1): only the rewrite
    /// target (FTPHost + announced port) can work.
    @Test func vsftpdPassiveEPSVAndActiveThroughTheFilter() throws {
        let root = try TempDirectory("filter-vsftpd")
        let payload = root.file("payload.bin")
        try TestFiles.random(at: payload, size: 300_000)
        let expected = try TestFiles.sha256(payload)
        let server = try VsftpdFixture(root: root.path, pasvAddress: "192.0.2.1")
        let session = try RealServerFilterSession(host: server.host, port: server.port, ftpHost: server.host)

        #expect(try session.reply("banner").code == 220)
        _ = try session.command("USER anonymous")
        #expect(try session.command("PASS test@").code == 230)
        #expect(try session.command("AUTH TLS").code == 534)
        let feat = try session.command("FEAT")
        #expect(feat.code == 211 && feat.lines.contains(" EPSV"))
        let stat = try session.command("STAT")
        #expect(stat.code == 211 && stat.lines.count > 2)
        let help = try session.command("HELP")
        #expect(help.code == 214 && help.lines.count > 2)
        #expect(try session.command("TYPE I").code == 200)

        // PASV: the 227 points at the local listener; the target is FTPHost with the announced port.
        let pasv = try session.command("PASV")
        #expect(pasv.lines == [PassiveEndpoint(host: "127.0.0.1", port: 40001).passiveReply()!])
        let target = try #require(session.passiveTargets[1])
        #expect(target.host == server.host && server.passivePorts.contains(target.port))
        let data = try #require(LoopbackNet.connect(target.host!, target.port))
        session.send("RETR payload.bin\r\n")
        #expect(try session.reply("150 for RETR").code == 150)
        #expect(sha256Hex(readAll(data)) == expected)
        #expect(try session.reply("226 for RETR").code == 226)

        // EPSV: 229 with the local port; LIST over the real data port.
        let epsv = try session.command("EPSV")
        #expect(epsv.lines == [PassiveEndpoint(host: nil, port: 40002).extendedPassiveReply()])
        let listTarget = try #require(session.passiveTargets[2])
        let listData = try #require(LoopbackNet.connect(listTarget.host!, listTarget.port))
        session.send("LIST\r\n")
        #expect(try session.reply("150 for LIST").code == 150)
        #expect(String(decoding: readAll(listData), as: UTF8.self).contains("payload.bin"))
        #expect(try session.reply("226 for LIST").code == 226)

        // Active mode: PORT is answered locally after the filter's own EPSV; the transfer runs over its endpoint.
        let port = try session.command("PORT 127,0,0,1,195,80")
        #expect(port.lines == [FilterReply.activeAccepted(verb: "PORT")])
        let activeTarget = try #require(session.activeTargets[3])
        #expect(activeTarget.host == server.host && server.passivePorts.contains(activeTarget.port))
        session.send("RETR payload.bin\r\n")
        #expect(try session.reply("150 for active RETR").code == 150)
        let activeData = try #require(session.activeDataSocket)
        session.activeDataSocket = nil
        #expect(sha256Hex(readAll(activeData)) == expected)
        #expect(try session.reply("226 for active RETR").code == 226)

        // A non-loopback PORT is refused without reaching the server.
        #expect(try session.command("PORT 192,0,2,1,195,80").code == 501)
        #expect(try session.command("NOOP").code == 200)
        #expect(try session.command("QUIT").code == 221)
        #expect(!session.logs.contains { $0.contains("Could not read") })
    }

    /// pyftpdlib (another real server, with its own reply texts) through the filter.
    @Test func pyftpdlibPassiveAndActive() throws {
        let root = try TempDirectory("filter-pyftpdlib")
        let payload = root.file("payload.bin")
        try TestFiles.random(at: payload, size: 200_000)
        let expected = try TestFiles.sha256(payload)
        let port = try LoopbackNet.freePort(on: LoopbackNet.serverSide)
        let range = try LoopbackNet.freePortRange(count: 10)
        let script = """
        import sys
        from pyftpdlib.authorizers import DummyAuthorizer
        from pyftpdlib.handlers import FTPHandler
        from pyftpdlib.servers import FTPServer
        a = DummyAuthorizer(); a.add_anonymous(sys.argv[1])
        FTPHandler.authorizer = a
        FTPHandler.masquerade_address = '198.51.100.7'
        FTPHandler.passive_ports = range(int(sys.argv[3]), int(sys.argv[4]) + 1)
        FTPServer(('127.0.0.2', int(sys.argv[2])), FTPHandler).serve_forever()
        """
        let process = try ManagedProcess("/usr/bin/python3", ["-c", script, root.path, "\(port)", "\(range.lowerBound)", "\(range.upperBound)"])
        defer { process.stop() }
        try LoopbackNet.waitForGreeting(LoopbackNet.serverSide, port, prefix: "220")
        let session = try RealServerFilterSession(host: LoopbackNet.serverSide, port: port, ftpHost: LoopbackNet.serverSide)

        #expect(try session.reply("banner").code == 220)
        _ = try session.command("USER anonymous")
        #expect(try session.command("PASS test@").code == 230)
        #expect(try session.command("TYPE I").code == 200)
        let pasv = try session.command("PASV")
        #expect(pasv.lines == [PassiveEndpoint(host: "127.0.0.1", port: 40001).passiveReply()!])
        let target = try #require(session.passiveTargets[1])
        #expect(target.host == LoopbackNet.serverSide && range.contains(target.port))
        let data = try #require(LoopbackNet.connect(target.host!, target.port))
        session.send("RETR payload.bin\r\n")
        #expect([125, 150].contains(try session.reply("150 for RETR").code))
        #expect(sha256Hex(readAll(data)) == expected)
        #expect(try session.reply("226 for RETR").code == 226)

        let eprt = try session.command("EPRT |1|127.0.0.1|50000|")
        #expect(eprt.lines == [FilterReply.activeAccepted(verb: "EPRT")])
        session.send("RETR payload.bin\r\n")
        #expect([125, 150].contains(try session.reply("150 for active RETR").code))
        let activeData = try #require(session.activeDataSocket)
        session.activeDataSocket = nil
        #expect(sha256Hex(readAll(activeData)) == expected)
        #expect(try session.reply("226 for active RETR").code == 226)
        #expect(try session.command("QUIT").code == 221)
    }
}
