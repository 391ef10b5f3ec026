import Foundation
import Testing
import TestSupport

/// `EarlyDataChannel yes` (rewrite mode): the data channel is opened when the server's 227/229 reply
/// arrives, and the client's connection adopts it. Real sshd, vsftpd and pasvd, real curl, lftp and raw control
/// connections; every transfer is hashed at both ends. Covers a client that connects only after the channel is
/// open, one that never connects, PASV issued twice, and the setting turned off.
@Suite(.serialized) struct EarlyDataChannelTests {
    static let mebibytes = 3

    /// The early channel's connection id from its log line for `port`, once it is logged.
    static func earlyChannelID(_ tunnel: RewriteTunnelProcess, port: Int) throws -> String {
        try Deadline.value(of: "the early data channel for port \(port) in the log") {
            TunnelLogLine.all(tunnel.output)
                .first { $0.text.hasSuffix("for port \(port)") && $0.text.contains("early data channel") }
                .flatMap { line in line.metadata["conn"].map { "conn=\($0)" } }
        }
    }

    static func logLine(_ tunnel: RewriteTunnelProcess, _ conn: String, endingWith text: String) -> Bool {
        TunnelLogLine.all(tunnel.output).contains { line in
            line.metadata["conn"].map { "conn=\($0)" } == conn && line.text.hasSuffix(text)
        }
    }

    /// Waits for the log line of `conn` ending with `text`; a timeout shows the tunnel's log.
    static func waitForLog(_ tunnel: RewriteTunnelProcess, _ conn: String, endingWith text: String) throws {
        do {
            try Deadline.wait(for: "'\(text)' for \(conn)") { logLine(tunnel, conn, endingWith: text) }
        } catch {
            throw Expectation.failed("\(error)\n\(tunnel.output)")
        }
    }

    /// `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).` → the port.
    static func pasvPort(_ reply: String?) throws -> Int {
        guard let reply, reply.hasPrefix("227"), let open = reply.firstIndex(of: "("), let close = reply.firstIndex(of: ")") else {
            throw Expectation.failed("not a 227 reply: \(reply ?? "connection closed")")
        }
        let numbers = reply[reply.index(after: open)..<close].split(separator: ",").compactMap { Int($0) }
        guard numbers.count == 6 else { throw Expectation.failed("bad 227 reply: \(reply)") }
        return numbers[4] << 8 | numbers[5]
    }

    enum Expectation: Error { case failed(String) }

    static func login(_ tunnel: RewriteTunnelProcess) throws -> RawFTPControl {
        let control = try RawFTPControl(host: LoopbackNet.clientSide, port: tunnel.localPort)
        #expect(control.readReply()?.hasPrefix("220") == true)
        let user = control.command("USER anonymous") ?? "connection closed"
        if user.hasPrefix("331") { #expect(control.command("PASS test@")?.hasPrefix("230") == true) }
        else { #expect(user.hasPrefix("230"), "\(user)") }
        #expect(control.command("TYPE I")?.hasPrefix("200") == true)
        return control
    }

    /// Connects to the tunnel's data port, reads until EOF into `path`.
    static func receive(port: Int, into path: String) throws {
        guard let fd = LoopbackNet.connect(LoopbackNet.clientSide, port) else { throw Expectation.failed("data port \(port) refused") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard let out = FileHandle(forWritingAtPath: path) ?? {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            return FileHandle(forWritingAtPath: path)
        }() else { throw Expectation.failed("cannot write \(path)") }
        defer { try? out.close() }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n == 0 { return }
            if n < 0 { throw Expectation.failed("data read failed: errno \(errno)") }
            out.write(Data(buffer[0..<n]))
        }
    }

    /// The client connects only after the early channel is open (and sends RETR after connecting, like curl).
    @Test func aClientThatConnectsLateGetsEveryByte() throws {
        let world = try RewriteTransferTests.World(mebibytes: Self.mebibytes)
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
        let tunnel = try world.tunnel(ftpPort: vsftpd.port, ["-o", "EarlyDataChannel=yes"])
        let control = try Self.login(tunnel)
        let port = try Self.pasvPort(control.command("PASV"))
        let conn = try Self.earlyChannelID(tunnel, port: port)
        try Self.waitForLog(tunnel, conn, endingWith: "channel open")
        let file = world.work.file("late.bin")
        let reader = BackgroundWork { try Self.receive(port: port, into: file) }
        try Self.waitForLog(tunnel, conn, endingWith: "connection accepted onto its early channel")
        #expect(control.command("RETR down.bin")?.hasPrefix("150") == true)
        #expect(control.readReply()?.hasPrefix("226") == true, "\(tunnel.output)")
        try reader.wait()
        try world.expectDownloaded("late.bin", tunnel.output)
        #expect(control.command("QUIT")?.hasPrefix("221") == true)
    }

    /// PASV twice: the first port is never connected to. Its early channel closes when the second PASV replaces its
    /// listener; the second carries the file; a PASV followed by QUIT and the
    /// client hanging up leaves no channel behind either.
    @Test func pasvTwiceAndNeverConnecting() throws {
        let world = try RewriteTransferTests.World(mebibytes: Self.mebibytes)
        let pasvd = try PasvdFixture(root: world.root.path, extraArguments: ["--anonymous", "--writable",
                                                                             "--anonymous-account", PasvdScenario.runnerAccount])
        let tunnel = try world.tunnel(ftpPort: pasvd.port, ["-o", "EarlyDataChannel=yes"])
        let control = try Self.login(tunnel)
        let first = try Self.pasvPort(control.command("PASV"))
        let firstConn = try Self.earlyChannelID(tunnel, port: first)
        let second = try Self.pasvPort(control.command("PASV"))
        let secondConn = try Self.earlyChannelID(tunnel, port: second)
        #expect(firstConn != secondConn)
        try Self.waitForLog(tunnel, firstConn, endingWith: "closed: no client connected to port \(first)")
        // Asked of the tunnel's own sockets: a connect attempt could reach another process that has since bound the
        // freed port (tests run in parallel).
        #expect(!ProcessSockets.listeningPorts(tunnel.pid).contains(first),
                "the replaced listener is closed: \(ProcessSockets.listening(tunnel.pid))")
        let file = world.work.file("second.bin")
        let reader = BackgroundWork { try Self.receive(port: second, into: file) }
        try Self.waitForLog(tunnel, secondConn, endingWith: "connection accepted onto its early channel")
        #expect(control.command("RETR down.bin")?.hasPrefix("150") == true)
        #expect(control.readReply()?.hasPrefix("226") == true, "\(tunnel.output)")
        try reader.wait()
        try world.expectDownloaded("second.bin", tunnel.output)

        let third = try Self.pasvPort(control.command("PASV"))
        let thirdConn = try Self.earlyChannelID(tunnel, port: third)
        #expect(control.command("QUIT")?.hasPrefix("221") == true)
        shutdown(control.fd, Int32(SHUT_RDWR))  // the client hangs up: the control connection ends
        try Self.waitForLog(tunnel, thirdConn, endingWith: "closed: no client connected to port \(third)")
        // The tunnel carries on: curl and lftp, downloads and uploads, byte-exact.
        let down = try FTPClients.curl(["\(tunnel.url)/down.bin", "-o", world.work.file("curl-down.bin")])
        #expect(down.status == 0, "\(down.output)\n\(tunnel.output)")
        try world.expectDownloaded("curl-down.bin", tunnel.output)
        let lftp = try FTPClients.lftp(url: tunnel.url, script: [
            "get down.bin -o \(world.work.file("lftp-down.bin"))", "put \(world.work.file("up.bin")) -o upload/lftp-up.bin",
        ])
        #expect(lftp.status == 0, "lftp: \(lftp.output)\n\(tunnel.output)")
        try world.expectDownloaded("lftp-down.bin", tunnel.output)
        try world.expectUploaded("lftp-up.bin", tunnel.output)
        #expect(tunnel.process.isRunning)
    }

    /// lftp mirror (one file after another on one connection) and curl with EPSV and PASV, byte-exact, with the
    /// early channel on, and with `EarlyDataChannel no` (the default: no early channel is opened).
    @Test(arguments: ["yes", "no"]) func mirrorAndCurl(early: String) throws {
        let world = try RewriteTransferTests.World(mebibytes: 1)
        let tree = world.root.file("tree")
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        for index in 0..<20 { try TestFiles.random(at: "\(tree)/f\(index).bin", size: 4096 + index * 997, seed: UInt64(index + 1)) }
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
        let tunnel = try world.tunnel(ftpPort: vsftpd.port, ["-o", "EarlyDataChannel=\(early)"])
        let mirrored = world.work.file("mirror")
        let lftp = try FTPClients.lftp(url: tunnel.url, script: ["mirror --parallel=1 tree \(mirrored)"])
        #expect(lftp.status == 0, "lftp: \(lftp.output)\n\(tunnel.output)")
        for index in 0..<20 {
            #expect(try TestFiles.sha256("\(mirrored)/f\(index).bin") == TestFiles.sha256("\(tree)/f\(index).bin"), "f\(index).bin")
        }
        for (name, flags) in [("curl-epsv", [String]()), ("curl-pasv", ["--disable-epsv"])] {
            let down = try FTPClients.curl(flags + ["\(tunnel.url)/down.bin", "-o", world.work.file("\(name).bin")])
            #expect(down.status == 0, "\(name): \(down.output)\n\(tunnel.output)")
            try world.expectDownloaded("\(name).bin", tunnel.output)
        }
        let opened = tunnel.output.contains("early data channel to")
        #expect(opened == (early == "yes"), "\(tunnel.output)")
    }
}

/// Runs a body on its own thread; `wait()` rethrows its error, within a deadline.
final class BackgroundWork: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var error: Error?

    init(_ body: @escaping @Sendable () throws -> Void) {
        Thread.detachNewThread { [self] in
            do { try body() } catch { self.error = error }
            done.signal()
        }
    }

    func wait(seconds: Double = 60) throws {
        guard done.wait(timeout: .now() + seconds) == .success else { throw EarlyDataChannelTests.Expectation.failed("the data reader did not finish within \(seconds) s") }
        if let error { throw error }
    }
}
