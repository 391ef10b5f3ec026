import Foundation
import Testing
import TestSupport

/// Rewrite mode under load and on every failure path, through the real binary: concurrent transfers, abandoned
/// PASV, clients vanishing mid-transfer, a server whose data port cannot be reached. After each, the tunnel holds
/// only its control listener(s) and the fds it had when it became ready.
@Suite(.serialized) struct RewriteRobustnessTests {
    typealias World = RewriteTransferTests.World
    static let concurrentTransfers = 32
    static let concurrentMiB = 4
    static let interruptedMiB = 64
    static let backToBackTransfers = 120
    /// The data-listener timeout the expiry test gives the tunnel (FTPTUNNEL_DATA_LISTENER_TIMEOUT; the product's
    /// is 60 s), and how long it waits for the expiry: that plus slack for the loop's wake-up.
    static let listenerTimeout = 5
    static let listenerExpirySeconds = Double(listenerTimeout) + 15

    /// Waits until the tunnel holds exactly the fds and listeners it had at `baseline`.
    static func expectSettled(_ tunnel: RewriteTunnelProcess, baseline: (fds: Int, listeners: [Int])) throws {
        do {
            try Deadline.wait(for: "the tunnel's fds and listeners to return to their ready state", seconds: 30) {
                ProcessSockets.fdCount(tunnel.pid) == baseline.fds && ProcessSockets.listeningPorts(tunnel.pid) == baseline.listeners
            }
        } catch {
            Issue.record("fds \(ProcessSockets.fdCount(tunnel.pid)) (ready: \(baseline.fds)), listeners \(ProcessSockets.listening(tunnel.pid)) (ready: \(baseline.listeners)); \(error)\n\(tunnel.output)")
        }
    }

    static func baseline(_ tunnel: RewriteTunnelProcess) -> (fds: Int, listeners: [Int]) {
        let listeners = ProcessSockets.listeningPorts(tunnel.pid)
        #expect(!listeners.isEmpty && listeners.allSatisfy { $0 == tunnel.localPort }, "\(ProcessSockets.listening(tunnel.pid))")
        return (ProcessSockets.fdCount(tunnel.pid), listeners)
    }

    static func expectTransferWorks(_ world: World, _ tunnel: RewriteTunnelProcess, name: String) throws {
        let down = try FTPClients.curl(["\(tunnel.url)/down.bin", "-o", world.work.file(name)])
        #expect(down.status == 0, "\(down.output)\n\(tunnel.output)")
        try world.expectDownloaded(name, tunnel.output)
    }

    @Test func thirtyTwoConcurrentTransfersLeaveNothingBehind() throws {
        let world = try World(mebibytes: Self.concurrentMiB)
        // vsftpd needs a passive port per concurrent transfer (it ends the session when none is free).
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, passivePortCount: 100, writable: true)
        let tunnel = try world.tunnel(ftpPort: vsftpd.port)
        let ready = Self.baseline(tunnel)

        var clients: [(name: String, upload: Bool, process: ManagedProcess)] = []
        for index in 0..<Self.concurrentTransfers {
            let flags: [String] = index % 4 == 1 ? ["--disable-epsv"] : index % 4 == 2 ? ["-P", "-"] : []
            let upload = index % 2 == 1
            let name = "c\(index).bin"
            let arguments = ["-sS", "--max-time", "300"] + flags + (upload
                ? ["-T", world.work.file("up.bin"), "\(tunnel.url)/upload/\(name)"]
                : ["\(tunnel.url)/down.bin", "-o", world.work.file(name)])
            clients.append((name, upload, try ManagedProcess(try which("curl"), arguments)))
        }
        for client in clients {
            let status = try client.process.waitForExit(seconds: 300)
            #expect(status == 0, "\(client.name): \(client.process.output)\n\(tunnel.output)")
            if client.upload {
                try world.expectUploaded(client.name, tunnel.output)
            } else {
                try world.expectDownloaded(client.name, tunnel.output)
            }
        }
        #expect(tunnel.process.isRunning)
        try Self.expectSettled(tunnel, baseline: ready)
    }

    @Test func lftpMirrorsInParallelSessions() throws {
        let world = try World(mebibytes: 1)
        try FileManager.default.createDirectory(atPath: world.root.file("tree"), withIntermediateDirectories: true)
        for index in 0..<8 { try TestFiles.random(at: world.root.file("tree/f\(index).bin"), size: (index + 1) * 300_000) }
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, passivePortCount: 100, writable: true)
        let tunnel = try world.tunnel(ftpPort: vsftpd.port)
        let ready = Self.baseline(tunnel)
        let sessions = try (0..<4).map { session in
            try ManagedProcess(try which("lftp"), ["-c", [
                "set ftp:passive-mode on", "set net:max-retries 1", "set ftp:ssl-allow no",
                "open -u anonymous,test@ \(tunnel.url)", "mirror -P 8 tree \(world.work.file("mirror\(session)"))",
            ].joined(separator: "; ")])
        }
        for (session, process) in sessions.enumerated() {
            #expect(try process.waitForExit(seconds: 300) == 0, "\(process.output)\n\(tunnel.output)")
            for index in 0..<8 {
                #expect(try TestFiles.sha256(world.work.file("mirror\(session)/f\(index).bin"))
                        == TestFiles.sha256(world.root.file("tree/f\(index).bin")))
            }
        }
        try Self.expectSettled(tunnel, baseline: ready)
    }

    /// PASV without a connection: a newer PASV releases the old listener, the control connection's end closes the
    /// rest, and an untouched listener expires.
    @Test func passiveListenersNobodyUsesAreClosed() throws {
        let world = try World(mebibytes: 1)
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
        let tunnel = try RewriteTunnelProcess(sshd: world.sshd, knownHosts: world.knownHosts, ftpPort: vsftpd.port,
                                              environment: ["FTPTUNNEL_DATA_LISTENER_TIMEOUT": "\(Self.listenerTimeout)"])
        let ready = Self.baseline(tunnel)

        func pasvPort(_ control: RawFTPControl) throws -> Int {
            let reply = try #require(control.command("PASV"))
            let numbers = reply.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            try #require(reply.hasPrefix("227 ") && numbers.count >= 7 && Array(numbers[1...4]) == [127, 0, 0, 1], "\(reply)")
            return numbers[5] * 256 + numbers[6]
        }
        func logIn() throws -> RawFTPControl {
            let control = try RawFTPControl(host: LoopbackNet.clientSide, port: tunnel.localPort)
            let greeting = control.readReply() ?? "(closed)"
            #expect(greeting.hasPrefix("220"), "\(greeting)")
            // vsftpd with no_anon_password logs anonymous in on USER alone.
            var reply = control.command("USER anonymous") ?? "(closed)"
            if reply.hasPrefix("331") { reply = control.command("PASS test@") ?? "(closed)" }
            #expect(reply.hasPrefix("230"), "\(reply)")
            return control
        }

        var control: RawFTPControl? = try logIn()
        let first = try pasvPort(control!)
        #expect(ProcessSockets.listeningPorts(tunnel.pid).contains(first), "\(ProcessSockets.listening(tunnel.pid)) \(tunnel.output)")
        let second = try pasvPort(control!)
        #expect(second != first)
        try Deadline.wait(for: "the first listener to be released") { !ProcessSockets.listeningPorts(tunnel.pid).contains(first) }
        #expect(ProcessSockets.listeningPorts(tunnel.pid).contains(second), "\(tunnel.output)")
        control = nil
        try Self.expectSettled(tunnel, baseline: ready)
        try Self.expectTransferWorks(world, tunnel, name: "after-release.bin")

        let idle = try logIn()
        let unused = try pasvPort(idle)
        let announced = Date()
        try Deadline.wait(for: "the unused listener to expire", seconds: Self.listenerExpirySeconds) {
            !ProcessSockets.listeningPorts(tunnel.pid).contains(unused)
        }
        #expect(Date().timeIntervalSince(announced) >= Double(Self.listenerTimeout) - 1, "expired before its timeout")
        #expect(tunnel.output.contains("closing the data listener on port \(unused): no connection within \(Self.listenerTimeout) s"), "\(tunnel.output)")
        #expect(idle.command("NOOP")?.hasPrefix("200") == true)
        try Self.expectTransferWorks(world, tunnel, name: "after-expiry.bin")
    }

    @Test func clientsVanishingMidTransfer() throws {
        let world = try World(mebibytes: Self.interruptedMiB)
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
        let tunnel = try world.tunnel(ftpPort: vsftpd.port)
        let ready = Self.baseline(tunnel)

        let partial = world.work.file("partial.bin")
        let download = try ManagedProcess(try which("curl"), ["-sS", "--limit-rate", "2M", "\(tunnel.url)/down.bin", "-o", partial])
        try Deadline.wait(for: "the download to start", seconds: 30) {
            ((try? FileManager.default.attributesOfItem(atPath: partial)[.size] as? Int) ?? 0) > 1 << 20
        }
        download.killTree()
        _ = try download.waitForExit(seconds: 30)

        let upload = try ManagedProcess(try which("curl"), ["-sS", "--limit-rate", "2M", "-P", "-", "-T", world.work.file("up.bin"),
                                                            "\(tunnel.url)/upload/partial.bin"])
        try Deadline.wait(for: "the upload to start", seconds: 30) {
            ((try? FileManager.default.attributesOfItem(atPath: world.root.file("upload/partial.bin"))[.size] as? Int) ?? 0) > 1 << 20
        }
        upload.killTree()
        _ = try upload.waitForExit(seconds: 30)

        #expect(tunnel.process.isRunning)
        try Self.expectSettled(tunnel, baseline: ready)
        try Self.expectTransferWorks(world, tunnel, name: "after-vanish.bin")
        try Self.expectSettled(tunnel, baseline: ready)
    }

    /// A data connection outlives its control connection: the client closes the control connection right after
    /// RETR and still receives the whole file (active and passive).
    @Test func dataOutlivesTheControlConnection() throws {
        let world = try World(mebibytes: Self.interruptedMiB)
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
        let tunnel = try world.tunnel(ftpPort: vsftpd.port)
        let ready = Self.baseline(tunnel)
        for (name, passive) in [("orphan-passive.bin", "True"), ("orphan-active.bin", "False")] {
            let result = try FTPClients.python(host: LoopbackNet.clientSide, port: tunnel.localPort, body: """
            import socket
            ftp.set_pasv(\(passive))
            ftp.voidcmd("TYPE I")
            conn = ftp.transfercmd("RETR down.bin")
            ftp.sock.shutdown(socket.SHUT_RDWR)
            ftp.sock.close()
            with open(sys.argv[1], "wb") as f:
                while True:
                    block = conn.recv(1 << 16)
                    if not block:
                        break
                    f.write(block)
            conn.close()
            sys.exit(0)
            """, args: [world.work.file(name)])
            #expect(result.status == 0, "\(result.output)\n\(tunnel.output)")
            try world.expectDownloaded(name, tunnel.output)
        }
        try Self.expectSettled(tunnel, baseline: ready)
    }

    /// The server announces a data port nobody can reach (PassiveHost=server trusts its 127.0.0.3): the SSH server
    /// refuses the channel, the client's data connection closes, the client gets an error, the tunnel stays.
    @Test func serverDataPortUnreachable() throws {
        let world = try World(mebibytes: 2)
        let server = try PyftpdlibFixture(root: world.root.path, misadvertiseFirstPASV: true)
        let tunnel = try world.tunnel(ftpPort: server.port, ["-o", "PassiveHost=server"])
        let ready = Self.baseline(tunnel)

        let failing = try FTPClients.python(host: LoopbackNet.clientSide, port: tunnel.localPort, body: """
        try:
            with open(sys.argv[1], "wb") as f:
                ftp.retrbinary("RETR down.bin", f.write)
            print("UNEXPECTED SUCCESS")
        except (ftplib.Error, OSError, EOFError) as e:
            print("TRANSFER FAILED:", e)
        """, args: [world.work.file("refused.bin")], seconds: 60)
        #expect(failing.stdout.contains("TRANSFER FAILED"), "\(failing.output)\n\(tunnel.output)")
        #expect(tunnel.output.contains("refused to open a channel to 127.0.0.3:"), "\(tunnel.output)")
        #expect(tunnel.process.isRunning)
        try Self.expectSettled(tunnel, baseline: ready)

        let working = try FTPClients.python(host: LoopbackNet.clientSide, port: tunnel.localPort, body: """
        with open(sys.argv[1], "wb") as f:
            ftp.retrbinary("RETR down.bin", f.write)
        """, args: [world.work.file("after-refusal.bin")])
        #expect(working.status == 0, "\(working.output)\n\(tunnel.output)")
        try world.expectDownloaded("after-refusal.bin", tunnel.output)
        try Self.expectSettled(tunnel, baseline: ready)
    }

    /// Active mode when the data connection cannot be made: the server's data port is unreachable (the SSH server
    /// refuses the channel), or the client announces a port nothing listens on. The PORT gets 425, the tunnel stays.
    @Test func activeModeFailuresAnswer425() throws {
        let world = try World(mebibytes: 2)
        let server = try PyftpdlibFixture(root: world.root.path, misadvertiseFirstPASV: true, refuseEPSV: true)
        let tunnel = try world.tunnel(ftpPort: server.port, ["-o", "PassiveHost=server"])
        let ready = Self.baseline(tunnel)

        let refused = try FTPClients.python(host: LoopbackNet.clientSide, port: tunnel.localPort, body: """
        ftp.set_pasv(False)
        try:
            with open(sys.argv[1], "wb") as f:
                ftp.retrbinary("RETR down.bin", f.write)
            print("UNEXPECTED SUCCESS")
        except ftplib.Error as e:
            print("TRANSFER FAILED:", e)
        """, args: [world.work.file("refused.bin")], seconds: 60)
        #expect(refused.stdout.contains("TRANSFER FAILED: 425"), "\(refused.output)\n\(tunnel.output)")
        #expect(tunnel.output.contains("refused to open a channel to 127.0.0.3:"), "\(tunnel.output)")
        try Self.expectSettled(tunnel, baseline: ready)

        let control = try RawFTPControl(host: LoopbackNet.clientSide, port: tunnel.localPort)
        #expect(control.readReply()?.hasPrefix("220") == true)
        #expect(control.command("USER anonymous")?.hasPrefix("331") == true)
        #expect(control.command("PASS test@")?.hasPrefix("230") == true)
        let nobody = try LoopbackNet.freePort(on: LoopbackNet.clientSide)
        let reply = control.command("PORT 127,0,0,1,\(nobody >> 8),\(nobody & 0xFF)") ?? "(closed)"
        #expect(reply.hasPrefix("425"), "\(reply)\n\(tunnel.output)")
        #expect(control.command("NOOP")?.hasPrefix("200") == true)

        let working = try FTPClients.python(host: LoopbackNet.clientSide, port: tunnel.localPort, body: """
        ftp.set_pasv(False)
        with open(sys.argv[1], "wb") as f:
            ftp.retrbinary("RETR down.bin", f.write)
        """, args: [world.work.file("after-425.bin")])
        #expect(working.status == 0, "\(working.output)\n\(tunnel.output)")
        try world.expectDownloaded("after-425.bin", tunnel.output)
    }

    /// Many short active-mode sessions in a row (IPv4 and IPv6): each control reply must reach the client at once
    /// even when libssh2 read it off the socket during a call for the data channel (it then never wakes poll()).
    @Test func backToBackActiveUploads() throws {
        let world = try World(mebibytes: 1)
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
        let tunnel = try world.tunnel(ftpPort: vsftpd.port)
        let ready = Self.baseline(tunnel)
        for index in 0..<Self.backToBackTransfers {
            let host = index % 2 == 0 ? "[::1]" : LoopbackNet.clientSide
            let up = try FTPClients.curl(["-P", "-", "-T", world.work.file("up.bin"),
                                          "ftp://\(host):\(tunnel.localPort)/upload/b\(index).bin"], seconds: 20)
            try #require(up.status == 0, "transfer \(index) to \(host): \(up.output)\n\(tunnel.output)")
            try world.expectUploaded("b\(index).bin", tunnel.output)
        }
        try Self.expectSettled(tunnel, baseline: ready)
    }
}
