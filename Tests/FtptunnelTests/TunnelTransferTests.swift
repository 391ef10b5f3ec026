import Foundation
import Testing
import TestSupport

/// Real FTP clients through `ftptunnel connect --mode fixed` to the recipe's server side (vsftpd configured
/// exactly as the recipe, and pasvd): list, 256 MiB download and upload, SHA-256 equal at both ends.
@Suite(.serialized) struct TunnelTransferTests {
    static let bigMiB = 256

    @Test(arguments: TunnelRecipe.Server.allCases)
    func curlListsDownloadsAndUploads(server: TunnelRecipe.Server) throws {
        let recipe = try TunnelRecipe(server: server)
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

    @Test(arguments: TunnelRecipe.Server.allCases)
    func lftpListsDownloadsAndUploads(server: TunnelRecipe.Server) throws {
        let recipe = try TunnelRecipe(server: server)
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

    @Test(arguments: TunnelRecipe.Server.allCases)
    func pythonFtplibListsDownloadsAndUploads(server: TunnelRecipe.Server) throws {
        let recipe = try TunnelRecipe(server: server)
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
        let tunnel = try recipe.tunnel(extraArguments: ["-v"])
        let curl = try which("curl")
        let download = try ManagedProcess(curl, ["-sS", "--max-time", "300", "\(tunnel.url)/big.bin", "-o", recipe.work.file("down.bin")])
        let upload = try ManagedProcess(curl, ["-sS", "--max-time", "300", "-T", recipe.work.file("up.bin"), "\(tunnel.url)/upload/up.bin"])
        #expect(try download.waitForExit(seconds: 310) == 0, "\(download.output)\n\(tunnel.output)")
        #expect(try upload.waitForExit(seconds: 310) == 0, "\(upload.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("down.bin")) == TestFiles.sha256(recipe.root.file("big.bin")))
        #expect(try TestFiles.sha256(recipe.root.file("upload/up.bin")) == TestFiles.sha256(recipe.work.file("up.bin")))
        tunnel.stop()
        print(tunnel.output.split(separator: "\n").filter { $0.contains("session ending") }.joined(separator: "\n"))
    }

    /// Several uploads and a download at once with a slow SSH server (its per-connection processes paused and
    /// resumed in a duty cycle): more data in flight than the socket buffers hold, so sends block mid-packet and
    /// the pending-send rule must keep every stream byte-exact.
    @Test func concurrentTransfersWithASlowServerExerciseThePendingSendRule() throws {
        let recipe = try TunnelRecipe()
        let uploads = 6
        try TunnelPayload.random(at: recipe.root.file("big.bin"), mebibytes: 64)
        for index in 0..<uploads { try TunnelPayload.random(at: recipe.work.file("up\(index).bin"), mebibytes: 32) }
        let tunnel = try recipe.tunnel(extraArguments: ["-v", "-o", "ServerAliveInterval=1"])
        let curl = try which("curl")
        let throttle = ProcessThrottle(rootPID: try ProcessThrottle.sshdPID(recipe.sshd))
        let download = try ManagedProcess(curl, ["-sS", "--max-time", "300", "\(tunnel.url)/big.bin", "-o", recipe.work.file("down.bin")])
        let senders = try (0..<uploads).map { index in
            try ManagedProcess(curl, ["-sS", "--max-time", "300", "-T", recipe.work.file("up\(index).bin"), "\(tunnel.url)/upload/up\(index).bin"])
        }
        let downloadStatus = try download.waitForExit(seconds: 310)
        let uploadStatuses = try senders.map { try $0.waitForExit(seconds: 310) }
        throttle.stop()
        #expect(downloadStatus == 0, "\(download.output)\n\(tunnel.output)")
        #expect(uploadStatuses.allSatisfy { $0 == 0 }, "\(senders.map(\.output))\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("down.bin")) == TestFiles.sha256(recipe.root.file("big.bin")))
        for index in 0..<uploads {
            #expect(try TestFiles.sha256(recipe.root.file("upload/up\(index).bin")) == TestFiles.sha256(recipe.work.file("up\(index).bin")))
        }
        tunnel.stop()
        let summary = tunnel.output.split(separator: "\n").first { $0.contains("session ending") }.map(String.init) ?? ""
        print(summary)
        let retries = summary.split(separator: " ").compactMap { Int($0) }.first ?? 0
        #expect(retries > 0, "the slow server should have blocked at least one send mid-packet: \(summary)")
    }

    /// Keepalives (want_reply=0) interleaved with a transfer: the keepalive packet obeys the pending-send rule too.
    @Test func keepalivesDuringATransferKeepItByteExact() throws {
        let recipe = try TunnelRecipe()
        try TunnelPayload.random(at: recipe.root.file("big.bin"), mebibytes: 64)
        let tunnel = try recipe.tunnel(extraArguments: ["-o", "ServerAliveInterval=1", "-o", "ServerAliveCountMax=3"])
        let down = try FTPClients.curl(["--limit-rate", "20M", "\(tunnel.url)/big.bin", "-o", recipe.work.file("down.bin")])
        #expect(down.status == 0, "\(down.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("down.bin")) == TestFiles.sha256(recipe.root.file("big.bin")))
        #expect(tunnel.process.isRunning)
    }

    /// Cipher and MAC lists from settings reach libssh2; a list libssh2 cannot do is a clear error.
    @Test func cipherPreferencesApplyAndUnsupportedListsAreRejected() throws {
        let recipe = try TunnelRecipe()
        let tunnel = try recipe.tunnel(extraArguments: ["-o", "Ciphers=aes256-ctr", "-o", "MACs=hmac-sha2-512", "-vv"])
        let list = try FTPClients.curl(["\(tunnel.url)/"])
        #expect(list.status == 0, "\(list.output)\n\(tunnel.output)")
        try Deadline.wait(for: "sshd to log the cipher") { recipe.sshd.log.contains("aes256-ctr") || recipe.sshd.log.contains("Accepted") }
        tunnel.stop()

        let bad = try TunnelProcess(sshd: recipe.sshd, knownHosts: recipe.knownHosts, ftpPort: recipe.ftpPort,
                                    passivePorts: recipe.passivePorts, identity: recipe.sshd.userKey,
                                    extraArguments: ["-o", "Ciphers=chacha20-poly1305@openssh.com"], waitForReady: false)
        #expect(try bad.process.waitForExit(seconds: 30) == 2, "\(bad.output)")
        #expect(bad.output.contains("none of Ciphers chacha20-poly1305@openssh.com is supported by libssh2; choose from"), "\(bad.output)")
        #expect(bad.output.contains("aes128-ctr"), "\(bad.output)")
    }
}
