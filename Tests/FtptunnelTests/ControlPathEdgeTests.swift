import Foundation
import Testing
import TestSupport

/// What the tunnel says itself on the control path, through the real binary: EPSV ALL against a server without
/// EPSV, PORT in fixed mode, and a control port bound to every address.
@Suite(.serialized) struct ControlPathEdgeTests {
    typealias World = RewriteTransferTests.World

    /// Twisted-like servers have no EPSV: a client that said EPSV ALL still gets its 229 (the tunnel asks with PASV).
    @Test func epsvAllWorksAgainstAServerWithoutEPSV() throws {
        let world = try World(mebibytes: 2)
        let server = try PyftpdlibFixture(root: world.root.path, refuseEPSV: true)
        let tunnel = try world.tunnel(ftpPort: server.port)
        let result = try FTPClients.python(host: LoopbackNet.clientSide, port: tunnel.localPort, body: """
        import socket
        print(ftp.sendcmd("EPSV ALL"))
        for name in (sys.argv[1], sys.argv[2]):
            reply = ftp.sendcmd("EPSV")
            print(reply)
            host, port = ftplib.parse229(reply, ftp.sock.getpeername())
            data = socket.create_connection((host, port))
            ftp.voidcmd("TYPE I")
            ftp.sendcmd("RETR down.bin")
            with open(name, "wb") as f:
                while True:
                    chunk = data.recv(65536)
                    if not chunk: break
                    f.write(chunk)
            data.close()
            ftp.voidresp()
        """, args: [world.work.file("epsv-all-1.bin"), world.work.file("epsv-all-2.bin")])
        #expect(result.status == 0, "\(result.output)\n\(tunnel.output)")
        #expect(result.output.contains("200 EPSV ALL"), "\(result.output)")
        try world.expectDownloaded("epsv-all-1.bin", tunnel.output)
        try world.expectDownloaded("epsv-all-2.bin", tunnel.output)
    }

    /// Fixed mode cannot carry active mode: PORT/EPRT are refused locally (never reaching a server that would
    /// connect to its own loopback), and the session goes on in passive mode.
    @Test func fixedModeRefusesActiveModeLocally() throws {
        let recipe = try TunnelRecipe(server: .pasvd)
        try TunnelPayload.random(at: recipe.root.file("down.bin"), mebibytes: 1)
        let tunnel = try recipe.tunnel()
        let result = try FTPClients.python(host: LoopbackNet.clientSide, port: tunnel.localPort, body: """
        for command in ("PORT 127,0,0,1,200,10", "EPRT |1|127.0.0.1|51210|"):
            try:
                ftp.sendcmd(command)
                print("accepted", command)
            except ftplib.error_perm as e:
                print("refused", e)
        ftp.set_pasv(True)
        with open(sys.argv[1], "wb") as f:
            ftp.retrbinary("RETR down.bin", f.write)
        """, args: [recipe.work.file("fixed-down.bin")])
        #expect(result.status == 0, "\(result.output)\n\(tunnel.output)")
        #expect(!result.output.contains("accepted"), "\(result.output)")
        #expect(result.output.components(separatedBy: "refused 502").count == 3, "\(result.output)")
        #expect(result.output.contains("Mode rewrite"), "\(result.output)")
        #expect(try TestFiles.sha256(recipe.work.file("fixed-down.bin")) == TestFiles.sha256(recipe.root.file("down.bin")))
    }

    /// BindAddress 0.0.0.0: the ready line and the rewritten 227 name the address the client actually used.
    @Test func wildcardBindAddressIsNeverAnnounced() throws {
        let world = try World(mebibytes: 1)
        let vsftpd = try VsftpdFixture(root: world.root.path, pasvAddress: nil, writable: true)
        let tunnel = try world.tunnel(ftpPort: vsftpd.port, ["-o", "BindAddress=0.0.0.0"])
        let ready = try #require(tunnel.output.split(separator: "\n").first { $0.contains("ready") })
        #expect(!ready.contains("0.0.0.0"), "\(ready)")
        #expect(ready.contains("ftp://127.0.0.1:\(tunnel.localPort)"), "\(ready)")
        let result = try FTPClients.python(host: LoopbackNet.clientSide, port: tunnel.localPort, body: """
        print(ftp.sendcmd("PASV"))
        """)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("(127,0,0,1,"), "\(result.output)")
        let down = try FTPClients.curl(["--disable-epsv", "\(tunnel.url)/down.bin", "-o", world.work.file("wild.bin")])
        #expect(down.status == 0, "\(down.output)\n\(tunnel.output)")
        try world.expectDownloaded("wild.bin", tunnel.output)
    }
}
