import Foundation
import Testing
import TestSupport

/// Rewrite mode (the default) through the real ftptunnel binary and a real sshd, against servers that advertise an
/// address that is wrong from the client's side (stock vsftpd and pyftpdlib say 127.0.0.2) and against pasvd:
/// every client in passive and active mode, downloads and uploads, SHA-256 equal at both ends.
@Suite(.serialized) struct RewriteTransferTests {
    static let matrixMiB = 4
    static let bigMiB = 256

    /// One site: sshd, a server root with `down.bin`, a work directory with `up.bin`.
    final class World: @unchecked Sendable {
        let sshd: SSHDFixture
        let root: TempDirectory
        let work: TempDirectory
        let knownHosts: String

        init(mebibytes: Int) throws {
            sshd = try SSHDFixture()
            root = try TempDirectory("rewrite-root")
            work = try TempDirectory("rewrite-work")
            knownHosts = try sshd.writeKnownHosts(in: work)
            try TunnelPayload.random(at: root.file("down.bin"), mebibytes: mebibytes)
            try TunnelPayload.random(at: work.file("up.bin"), mebibytes: mebibytes)
            try FileManager.default.createDirectory(atPath: root.file("upload"), withIntermediateDirectories: true)
            chmod(root.file("upload"), 0o777)
        }

        func tunnel(ftpPort: Int, _ extra: [String] = []) throws -> RewriteTunnelProcess {
            try RewriteTunnelProcess(sshd: sshd, knownHosts: knownHosts, ftpPort: ftpPort, extraArguments: extra)
        }

        func expectDownloaded(_ name: String, _ context: @autoclosure () -> String) throws {
            #expect(try TestFiles.sha256(work.file(name)) == TestFiles.sha256(root.file("down.bin")), "\(name): \(context())")
        }

        func expectUploaded(_ name: String, _ context: @autoclosure () -> String) throws {
            #expect(try TestFiles.sha256(root.file("upload/\(name)")) == TestFiles.sha256(work.file("up.bin")), "\(name): \(context())")
        }
    }

    /// curl (EPSV then PASV), curl --disable-epsv, curl -P - (active), lftp, ftplib passive and active.
    static func runClientMatrix(_ world: World, _ tunnel: RewriteTunnelProcess) throws {
        let url = tunnel.url
        for (name, flags) in [("curl", [String]()), ("curl-pasv", ["--disable-epsv"]), ("curl-active", ["-P", "-"])] {
            let down = try FTPClients.curl(flags + ["\(url)/down.bin", "-o", world.work.file("\(name)-down.bin")])
            #expect(down.status == 0, "\(name) download: \(down.output)\n\(tunnel.output)")
            try world.expectDownloaded("\(name)-down.bin", tunnel.output)
            let up = try FTPClients.curl(flags + ["-T", world.work.file("up.bin"), "\(url)/upload/\(name)-up.bin"])
            #expect(up.status == 0, "\(name) upload: \(up.output)\n\(tunnel.output)")
            try world.expectUploaded("\(name)-up.bin", tunnel.output)
        }

        let lftp = try FTPClients.lftp(url: url, script: [
            "get down.bin -o \(world.work.file("lftp-down.bin"))", "put \(world.work.file("up.bin")) -o upload/lftp-up.bin",
        ])
        #expect(lftp.status == 0, "lftp: \(lftp.output)\n\(tunnel.output)")
        try world.expectDownloaded("lftp-down.bin", tunnel.output)
        try world.expectUploaded("lftp-up.bin", tunnel.output)

        for (name, passive) in [("ftplib-passive", "True"), ("ftplib-active", "False")] {
            let result = try FTPClients.python(host: LoopbackNet.clientSide, port: tunnel.localPort, body: """
            ftp.set_pasv(\(passive))
            with open(sys.argv[1], "wb") as f:
                ftp.retrbinary("RETR down.bin", f.write, blocksize=1 << 16)
            with open(sys.argv[2], "rb") as f:
                ftp.storbinary("STOR upload/\(name)-up.bin", f, blocksize=1 << 16)
            """, args: [world.work.file("\(name)-down.bin"), world.work.file("up.bin")])
            #expect(result.status == 0, "\(name): \(result.output)\n\(tunnel.output)")
            try world.expectDownloaded("\(name)-down.bin", tunnel.output)
            try world.expectUploaded("\(name)-up.bin", tunnel.output)
        }
        #expect(tunnel.process.isRunning)
    }

    @Test func stockVsftpdWithEveryClient() throws {
        let world = try World(mebibytes: Self.matrixMiB)
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
        let tunnel = try world.tunnel(ftpPort: vsftpd.port)
        #expect(tunnel.output.contains("ftptunnel: ready — \(tunnel.url), mode rewrite"), "\(tunnel.output)")
        #expect(tunnel.output.contains("data channels opened on demand"), "\(tunnel.output)")
        try Self.runClientMatrix(world, tunnel)
    }

    @Test func pasvdWithEveryClient() throws {
        let world = try World(mebibytes: Self.matrixMiB)
        let pasvd = try PasvdFixture(root: world.root.path, extraArguments: ["--anonymous", "--writable",
                                                                              "--anonymous-account", PasvdScenario.runnerAccount])
        let tunnel = try world.tunnel(ftpPort: pasvd.port)
        try Self.runClientMatrix(world, tunnel)
    }

    @Test func pyftpdlibWithEveryClient() throws {
        let world = try World(mebibytes: Self.matrixMiB)
        let server = try PyftpdlibFixture(root: world.root.path)
        let tunnel = try world.tunnel(ftpPort: server.port)
        try Self.runClientMatrix(world, tunnel)
    }

    /// `localhost` may mean ::1: the control port is offered there too, and IPv6 clients get EPSV listeners on ::1
    /// and active-mode (EPRT) connections to ::1.
    @Test func ipv6LoopbackClients() throws {
        let world = try World(mebibytes: Self.matrixMiB)
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
        let tunnel = try world.tunnel(ftpPort: vsftpd.port)
        #expect(ProcessSockets.listening(tunnel.pid).contains { $0.hasPrefix("[") && $0.hasSuffix("]:\(tunnel.localPort)") },
                "\(ProcessSockets.listening(tunnel.pid))")
        let url = "ftp://[::1]:\(tunnel.localPort)"
        for (name, flags) in [("v6-epsv", ["-v"]), ("v6-active", ["-v", "-P", "-"])] {
            let down = try FTPClients.curl(flags + ["\(url)/down.bin", "-o", world.work.file("\(name)-down.bin")])
            #expect(down.status == 0, "\(name) download: \(down.output)\n\(tunnel.output)")
            try world.expectDownloaded("\(name)-down.bin", tunnel.output)
            let up = try FTPClients.curl(flags + ["-T", world.work.file("up.bin"), "\(url)/upload/\(name)-up.bin"])
            #expect(up.status == 0, "\(name) upload: \(up.output)\n\(tunnel.output)")
            try world.expectUploaded("\(name)-up.bin", tunnel.output)
        }
        for (name, passive) in [("v6-ftplib-passive", "True"), ("v6-ftplib-active", "False")] {
            let result = try FTPClients.python(host: "::1", port: tunnel.localPort, body: """
            ftp.set_pasv(\(passive))
            with open(sys.argv[1], "wb") as f:
                ftp.retrbinary("RETR down.bin", f.write)
            with open(sys.argv[2], "rb") as f:
                ftp.storbinary("STOR upload/\(name)-up.bin", f)
            """, args: [world.work.file("\(name)-down.bin"), world.work.file("up.bin")])
            #expect(result.status == 0, "\(name): \(result.output)\n\(tunnel.output)")
            try world.expectDownloaded("\(name)-down.bin", tunnel.output)
            try world.expectUploaded("\(name)-up.bin", tunnel.output)
        }
    }

    /// Data listeners inside PassivePorts when given; one large transfer each way.
    @Test func bigTransfersWithinPassivePorts() throws {
        let world = try World(mebibytes: Self.bigMiB)
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
        let range = try LoopbackNet.freePortRange(count: 5, on: [LoopbackNet.clientSide])
        let tunnel = try world.tunnel(ftpPort: vsftpd.port, ["--passive-ports", "\(range.lowerBound)-\(range.upperBound)", "-vv"])
        let down = try FTPClients.curl(["\(tunnel.url)/down.bin", "-o", world.work.file("big-down.bin")])
        #expect(down.status == 0, "\(down.output)\n\(tunnel.output)")
        try world.expectDownloaded("big-down.bin", tunnel.output)
        let up = try FTPClients.curl(["-P", "-", "-T", world.work.file("up.bin"), "\(tunnel.url)/upload/big-up.bin"])
        #expect(up.status == 0, "\(up.output)\n\(tunnel.output)")
        try world.expectUploaded("big-up.bin", tunnel.output)
        let ports = tunnel.output.split(separator: "\n").filter { $0.contains("data listener on") }
        #expect(!ports.isEmpty && ports.allSatisfy { line in range.contains { line.contains("port \($0) ") } }, "\(tunnel.output)")
    }
}
