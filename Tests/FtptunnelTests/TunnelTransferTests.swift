import Foundation
import Testing
import TestSupport

/// Real FTP clients through `ftptunnel connect --mode fixed` to vsftpd configured as the recipe:
/// list, 256 MiB download and upload, SHA-256 equal at both ends.
@Suite(.serialized) struct TunnelTransferTests {
    static let bigMiB = 256

    @Test func curlListsDownloadsAndUploads() throws {
        let recipe = try TunnelRecipe()
        try TunnelPayload.random(at: recipe.root.file("big.bin"), mebibytes: Self.bigMiB)
        try TunnelPayload.random(at: recipe.work.file("up.bin"), mebibytes: Self.bigMiB)
        let tunnel = try recipe.tunnel()

        let list = try FTPClients.curl(["\(tunnel.url)/"])
        #expect(list.status == 0, "\(list.output)\n\(tunnel.output)")
        #expect(list.stdout.contains("big.bin"))

        let down = try FTPClients.curl(["\(tunnel.url)/big.bin", "-o", recipe.work.file("down.bin")])
        #expect(down.status == 0, "\(down.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("down.bin")) == TestFiles.sha256(recipe.root.file("big.bin")))

        let up = try FTPClients.curl(["-T", recipe.work.file("up.bin"), "\(tunnel.url)/upload/up.bin"])
        #expect(up.status == 0, "\(up.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.root.file("upload/up.bin")) == TestFiles.sha256(recipe.work.file("up.bin")))
        #expect(tunnel.process.isRunning)
    }

    @Test func lftpListsDownloadsAndUploads() throws {
        let recipe = try TunnelRecipe()
        try TunnelPayload.random(at: recipe.root.file("big.bin"), mebibytes: Self.bigMiB)
        try TunnelPayload.random(at: recipe.work.file("up.bin"), mebibytes: Self.bigMiB)
        let tunnel = try recipe.tunnel()
        let result = try FTPClients.lftp(url: tunnel.url, script: [
            "ls", "get big.bin -o \(recipe.work.file("down.bin"))",
            "cd upload", "put \(recipe.work.file("up.bin")) -o up.bin",
        ])
        #expect(result.status == 0, "\(result.output)\n\(tunnel.output)")
        #expect(result.stdout.contains("big.bin"))
        #expect(try TestFiles.sha256(recipe.work.file("down.bin")) == TestFiles.sha256(recipe.root.file("big.bin")))
        #expect(try TestFiles.sha256(recipe.root.file("upload/up.bin")) == TestFiles.sha256(recipe.work.file("up.bin")))
    }

    @Test func pythonFtplibListsDownloadsAndUploads() throws {
        let recipe = try TunnelRecipe()
        try TunnelPayload.random(at: recipe.root.file("big.bin"), mebibytes: Self.bigMiB)
        try TunnelPayload.random(at: recipe.work.file("up.bin"), mebibytes: Self.bigMiB)
        let tunnel = try recipe.tunnel()
        let result = try FTPClients.python(host: "127.0.0.1", port: tunnel.localPort, body: """
        print("LIST", ftp.nlst())
        with open(sys.argv[1], "wb") as f:
            ftp.retrbinary("RETR big.bin", f.write, blocksize=1 << 16)
        with open(sys.argv[2], "rb") as f:
            ftp.storbinary("STOR upload/up.bin", f, blocksize=1 << 16)
        """, args: [recipe.work.file("down.bin"), recipe.work.file("up.bin")])
        #expect(result.status == 0, "\(result.output)\n\(tunnel.output)")
        #expect(result.stdout.contains("big.bin"))
        #expect(try TestFiles.sha256(recipe.work.file("down.bin")) == TestFiles.sha256(recipe.root.file("big.bin")))
        #expect(try TestFiles.sha256(recipe.root.file("upload/up.bin")) == TestFiles.sha256(recipe.work.file("up.bin")))
    }

    /// The case that loses data when the pending-send rule is broken: both directions at once on one session.
    @Test func simultaneousUploadAndDownloadAreByteExact() throws {
        let recipe = try TunnelRecipe()
        try TunnelPayload.random(at: recipe.root.file("big.bin"), mebibytes: Self.bigMiB)
        try TunnelPayload.random(at: recipe.work.file("up.bin"), mebibytes: Self.bigMiB)
        let tunnel = try recipe.tunnel()
        let curl = try which("curl")
        let download = try ManagedProcess(curl, ["-sS", "--max-time", "300", "\(tunnel.url)/big.bin", "-o", recipe.work.file("down.bin")])
        let upload = try ManagedProcess(curl, ["-sS", "--max-time", "300", "-T", recipe.work.file("up.bin"), "\(tunnel.url)/upload/up.bin"])
        #expect(try download.waitForExit(seconds: 310) == 0, "\(download.output)\n\(tunnel.output)")
        #expect(try upload.waitForExit(seconds: 310) == 0, "\(upload.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("down.bin")) == TestFiles.sha256(recipe.root.file("big.bin")))
        #expect(try TestFiles.sha256(recipe.root.file("upload/up.bin")) == TestFiles.sha256(recipe.work.file("up.bin")))
    }
}
