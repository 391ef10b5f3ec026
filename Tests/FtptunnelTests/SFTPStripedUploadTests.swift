import Foundation
import Testing
import TestSupport

/// Mode sftp's striped uploads (`SFTPStreams`): the bridge reaches a real sshd through the delay proxy (25 ms each
/// way), so one channel is window-limited (sshd's 2 MiB per round trip) and the upload adds channels. Real curl
/// and Python ftplib; every file hashed at both ends (the remote side is on this machine).
@Suite(.serialized) struct SFTPStripedUploadTests {
    static let mebibyte = 1 << 20
    static let delay = 25

    @Test func aStripedUploadThroughALongRoundTripUsesSeveralStreamsAndArrivesWhole() throws {
        let world = try SFTPBridgeWorld(delayMilliseconds: Self.delay)
        try TestFiles.random(at: world.local("up.bin"), size: 48 * Self.mebibyte + 12345, seed: 41)
        let up = try FTPClients.curl(["-T", world.local("up.bin"), "\(world.url)/up.bin"])
        #expect(up.status == 0, "\(up.output)\n\(world.bridge.output)")
        #expect(try TestFiles.sha256(world.remote("up.bin")) == TestFiles.sha256(world.local("up.bin")))
        #expect(try SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty)
        let streams = try #require(Self.streamsUsed(world.bridge.output, name: "up.bin"), "\(world.bridge.output)")
        #expect(streams > 1, "\(world.bridge.output)")
    }

    /// REST+STOR in place, APPE at the size and STOU under a fresh name, each large enough to stripe, in one FTP
    /// session (its spare channels reused from one upload to the next).
    @Test func restStorAppeAndStouAreByteExactWhenStriped() throws {
        let world = try SFTPBridgeWorld(delayMilliseconds: Self.delay)
        let size = 24 * Self.mebibyte
        try TestFiles.random(at: world.local("whole.bin"), size: size, seed: 42)
        let whole = try Data(contentsOf: URL(fileURLWithPath: world.local("whole.bin")))
        // REST+STOR: the server holds the first 3 MiB + 5 bytes, the client sends the rest from there.
        try whole.prefix(3 * Self.mebibyte + 5).write(to: URL(fileURLWithPath: world.remote("resumed.bin")))
        // APPE: the server holds 1 MiB + 7 bytes of other data; the whole file is appended.
        try TestFiles.random(at: world.remote("appended.bin"), size: Self.mebibyte + 7, seed: 43)
        let appendedBefore = try Data(contentsOf: URL(fileURLWithPath: world.remote("appended.bin")))
        // STOU: the name is taken, so the upload gets name.1.
        try "taken".write(toFile: world.remote("unique.bin"), atomically: false, encoding: .utf8)

        let client = try FTPClients.python(host: LoopbackNet.clientSide, port: world.bridge.localPort, body: """
        path = \(Self.pythonString(world.local("whole.bin")))
        offset = \(3 * Self.mebibyte + 5)
        with open(path, 'rb') as f:
            f.seek(offset)
            print(ftp.storbinary('STOR resumed.bin', f, rest=offset))
        with open(path, 'rb') as f:
            print(ftp.storbinary('APPE appended.bin', f))
        with open(path, 'rb') as f:
            print(ftp.storbinary('STOU unique.bin', f))
        """, seconds: 180)
        #expect(client.status == 0, "\(client.output)\n\(world.bridge.output)")
        #expect(try TestFiles.sha256(world.remote("resumed.bin")) == TestFiles.sha256(world.local("whole.bin")))
        let appended = try Data(contentsOf: URL(fileURLWithPath: world.remote("appended.bin")))
        #expect(appended == appendedBefore + whole)
        #expect(try TestFiles.sha256(world.remote("unique.bin.1")) == TestFiles.sha256(world.local("whole.bin")))
        #expect(try String(contentsOfFile: world.remote("unique.bin"), encoding: .utf8) == "taken")
        #expect(try SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty)
        for name in ["resumed.bin", "appended.bin", "unique.bin.1"] {
            let streams = try #require(Self.streamsUsed(world.bridge.output, name: name), "\(name): \(world.bridge.output)")
            #expect(streams > 1, "\(name): \(world.bridge.output)")
        }
    }

    /// The SSH session dies while a striped upload is in flight: the client gets 426/451, nothing appears under the
    /// final name, and the temporary is gone once the FTP session goes on (on a new SSH session).
    @Test func aSessionLostMidUploadLeavesNothingUnderTheFinalName() throws {
        let world = try SFTPBridgeWorld(delayMilliseconds: Self.delay)
        let client = try ManagedProcess(try which("python3"), ["-u", "-c", Self.pythonPrelude(port: world.bridge.localPort) + """
        conn = ftp.transfercmd('STOR lost.bin')
        print('sending', flush=True)
        block = bytes(range(256)) * 4096
        try:
            for _ in range(4096):
                conn.sendall(block)
        except OSError as e:
            print('send failed:', e, flush=True)
        conn.close()
        try:
            print('reply', ftp.voidresp(), flush=True)
        except ftplib.all_errors as e:
            print('reply', e, flush=True)
        print('list', sorted(ftp.nlst()), flush=True)
        """])
        defer { client.stop() }
        try Deadline.wait(for: "a second SFTP stream to join the upload", seconds: 60) {
            world.bridge.output.contains("SFTP stream 2 added")
        }
        let killed = world.sshd.killSessions()
        #expect(killed >= 1)
        #expect(try client.waitForExit(seconds: 120) == 0, "\(client.output)\n\(world.bridge.output)")
        let reply = client.output.split(separator: "\n").first { $0.hasPrefix("reply ") } ?? ""
        #expect(reply.hasPrefix("reply 426") || reply.hasPrefix("reply 451"), "\(client.output)\n\(world.bridge.output)")
        #expect(client.output.contains("list []"), "\(client.output)")
        #expect(!FileManager.default.fileExists(atPath: world.remote("lost.bin")))
        try Deadline.wait(for: "the orphaned temporary to be removed by the new SSH session", seconds: 30) {
            (try? SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty) == true
        }
    }

    /// A striped REST+STOR whose SSH session dies mid-way: 451/426, and before the FTP session's next command (on a
    /// new SSH session) the file is cut at the end of what arrived without a gap, so it is an exact prefix of the
    /// source and a resume from its SIZE ends byte-exact.
    @Test func aStripedResumeCutByALostSessionLeavesAnExactPrefixAndResumesByteExact() throws {
        let world = try SFTPBridgeWorld(delayMilliseconds: Self.delay)
        let source = world.local("source.bin")
        try TestFiles.random(at: source, size: 96 * Self.mebibyte, seed: 45)
        let whole = try Data(contentsOf: URL(fileURLWithPath: source))
        try whole.prefix(Self.mebibyte).write(to: URL(fileURLWithPath: world.remote("resume.bin")))
        let client = try ManagedProcess(try which("python3"), ["-u", "-c", Self.pythonPrelude(port: world.bridge.localPort) + """
        ftp.voidcmd('TYPE I')
        f = open(\(Self.pythonString(source)), 'rb')
        f.seek(1 << 20)
        conn = ftp.transfercmd('STOR resume.bin', rest=1 << 20)
        try:
            while True:
                block = f.read(1 << 20)
                if not block:
                    break
                conn.sendall(block)
        except OSError as e:
            print('send failed:', e, flush=True)
        conn.close()
        try:
            print('reply', ftp.voidresp(), flush=True)
        except ftplib.all_errors as e:
            print('reply', e, flush=True)
        size = ftp.size('resume.bin')
        print('size', size, flush=True)
        f.seek(size)
        print(ftp.storbinary('STOR resume.bin', f, rest=size), flush=True)
        """])
        defer { client.stop() }
        try Deadline.wait(for: "a third SFTP stream to join the upload", seconds: 60) {
            world.bridge.output.contains("SFTP stream 3 added")
        }
        world.sshd.killSessions()
        #expect(try client.waitForExit(seconds: 180) == 0, "\(client.output)\n\(world.bridge.output)")
        let reply = client.output.split(separator: "\n").first { $0.hasPrefix("reply ") } ?? ""
        #expect(reply.hasPrefix("reply 426") || reply.hasPrefix("reply 451"), "\(client.output)\n\(world.bridge.output)")
        let size = client.output.split(separator: "\n").first { $0.hasPrefix("size ") }.flatMap { Int($0.dropFirst(5)) }
        let cut = try #require(size, "\(client.output)")
        #expect(cut >= Self.mebibyte && cut < whole.count, "\(client.output)")
        #expect(client.output.contains("226"), "\(client.output)\n\(world.bridge.output)")
        #expect(try TestFiles.sha256(world.remote("resume.bin")) == TestFiles.sha256(source))
        // Three streams were writing when the session died. Whether ranges after a gap had arrived depends on the
        // moment of the kill; when they had, they were cut away, and the SIZE the client resumed from is that cut.
        let cutLines = world.bridge.output.split(separator: "\n").filter { $0.contains("the end of what a failed striped upload wrote without a gap") }
        #expect(cutLines.allSatisfy { $0.contains("resume.bin to \(cut) bytes") }, "\(world.bridge.output)")
        print("striped resume after a lost session: SIZE \(cut), \(cutLines.isEmpty ? "no gap to cut" : "cut after a gap")")
    }

    /// The server refuses writes (a full disk) on some stripe: 552, the old file intact, no temporary, and the next
    /// upload in the same FTP session works.
    @Test func aStripeRefusedByAFullDiskIs552AndTheSessionGoesOn() throws {
        let mountPoint = try TempDirectory("sftp-stripe-full")
        try runChecked("mount", ["-t", "tmpfs", "-o", "size=12m", "tmpfs", mountPoint.path])
        defer { _ = try? runCommand("umount", ["-l", mountPoint.path]) }
        try "small and old".write(toFile: mountPoint.file("target.bin"), atomically: false, encoding: .utf8)
        let world = try SFTPBridgeWorld(root: mountPoint.path, delayMilliseconds: Self.delay)
        let result = try FTPClients.python(host: LoopbackNet.clientSide, port: world.bridge.localPort, body: """
        import io
        try:
            ftp.storbinary('STOR target.bin', io.BytesIO(bytes(range(256)) * (64 << 12)))
            raise SystemExit('64 MiB fitted into 12 MiB')
        except ftplib.error_perm as e:
            print(e)
        except OSError:
            # The bridge closed the data connection while the client was still sending: the reply follows.
            try:
                ftp.voidresp()
            except ftplib.error_perm as e:
                print(e)
        ftp.storbinary('STOR small.txt', io.BytesIO(b'fits'))
        print(sorted(ftp.nlst()))
        """, seconds: 180)
        try SFTPBridgeTests.expectFullDiskOutcome(result, world: world, mountPoint: mountPoint)
        #expect(world.bridge.output.contains("SFTP stream 2 added"), "\(world.bridge.output)")
    }

    /// sshd refuses channels beyond its MaxSessions (here 3 per connection): the upload goes on with the streams it
    /// has and ends byte-exact.
    @Test func aRefusedExtraChannelStopsTheGrowthNotTheUpload() throws {
        let world = try SFTPBridgeWorld(delayMilliseconds: Self.delay, sshdConfig: ["MaxSessions 3"])
        try TestFiles.random(at: world.local("capped.bin"), size: 64 * Self.mebibyte + 1, seed: 46)
        let up = try FTPClients.curl(["-T", world.local("capped.bin"), "\(world.url)/capped.bin"])
        #expect(up.status == 0, "\(up.output)\n\(world.bridge.output)")
        #expect(try TestFiles.sha256(world.remote("capped.bin")) == TestFiles.sha256(world.local("capped.bin")))
        #expect(world.bridge.output.contains("the SSH server refused another SFTP channel"), "\(world.bridge.output)")
        #expect(Self.streamsUsed(world.bridge.output, name: "capped.bin") == 3, "\(world.bridge.output)")
        #expect(try SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty)
    }

    /// Sixteen streams allowed (sshd's MaxSessions raised to match): files of odd sizes, around one WRITE request
    /// (30000 ± 1 bytes) and past a segment, one after another in one FTP session, so later uploads take the
    /// channels earlier ones kept. Every file byte-exact, no temporary left.
    @Test func oddSizesThroughSixteenStreamsInOneSessionAreByteExact() throws {
        let world = try SFTPBridgeWorld(bridgeArguments: ["-o", "SFTPStreams=16"], delayMilliseconds: Self.delay,
                                        sshdConfig: ["MaxSessions 20"])
        let sizes = [48 * Self.mebibyte, 1, 29999, 30000, 30001, 2 * Self.mebibyte + 7, 48 * Self.mebibyte + 1]
        for (index, size) in sizes.enumerated() {
            try TestFiles.random(at: world.local("odd\(index).bin"), size: size, seed: UInt64(60 + index))
        }
        let stores = sizes.indices.map { index in
            "with open(\(Self.pythonString(world.local("odd\(index).bin"))), 'rb') as f:\n    print(ftp.storbinary('STOR odd\(index).bin', f))"
        }
        let client = try FTPClients.python(host: LoopbackNet.clientSide, port: world.bridge.localPort,
                                           body: stores.joined(separator: "\n"), seconds: 240)
        #expect(client.status == 0, "\(client.output)\n\(world.bridge.output)")
        for index in sizes.indices {
            #expect(try TestFiles.sha256(world.remote("odd\(index).bin")) == TestFiles.sha256(world.local("odd\(index).bin")), "odd\(index).bin")
        }
        #expect(try SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty)
        for name in ["odd0.bin", "odd6.bin"] {
            let streams = try #require(Self.streamsUsed(world.bridge.output, name: name), "\(name): \(world.bridge.output)")
            #expect(streams > 2, "\(name): \(world.bridge.output)")
        }
    }

    /// Replacing a file that exists: the final rename is one posix-rename@openssh.com on a kept stream's channel,
    /// so a reader polling the name (on the server) sees the old file or the new one, never no file (v3's RENAME
    /// refuses an existing target: remove, then rename, left the name missing for a round trip). Its permissions
    /// stay.
    @Test func replacingAFileNeverLeavesItsNameMissing() throws {
        let world = try SFTPBridgeWorld(delayMilliseconds: Self.delay)
        try TestFiles.random(at: world.local("new.bin"), size: 24 * Self.mebibyte + 5, seed: 45)
        try TestFiles.random(at: world.remote("replaced.bin"), size: Self.mebibyte, seed: 46)
        chmod(world.remote("replaced.bin"), 0o640)
        let watcher = try NameWatcher(world.remote("replaced.bin"), in: world.work)
        // Twice in one FTP session: the second upload's rename also finds the first one's channels kept.
        let up = try FTPClients.curl(["-T", world.local("new.bin"), "\(world.url)/replaced.bin",
                                      "-T", world.local("new.bin"), "\(world.url)/replaced.bin"])
        let seen = try #require(try watcher.finish())
        #expect(up.status == 0, "\(up.output)\n\(world.bridge.output)")
        #expect(try TestFiles.sha256(world.remote("replaced.bin")) == TestFiles.sha256(world.local("new.bin")))
        #expect(try SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty)
        let mode = try FileManager.default.attributesOfItem(atPath: world.remote("replaced.bin"))[.posixPermissions] as? Int
        #expect(mode == 0o640)
        #expect(seen.looks > 0 && seen.missing == 0, "\(seen)\n\(world.bridge.output)")
    }

    @Test func sftpStreamsOneUploadsOverOneChannelAsBefore() throws {
        let world = try SFTPBridgeWorld(bridgeArguments: ["-o", "SFTPStreams=1"], delayMilliseconds: Self.delay)
        try TestFiles.random(at: world.local("one.bin"), size: 16 * Self.mebibyte + 3, seed: 44)
        let up = try FTPClients.curl(["-T", world.local("one.bin"), "\(world.url)/one.bin"])
        #expect(up.status == 0, "\(up.output)\n\(world.bridge.output)")
        #expect(try TestFiles.sha256(world.remote("one.bin")) == TestFiles.sha256(world.local("one.bin")))
        #expect(!world.bridge.output.contains("SFTP stream"), "\(world.bridge.output)")
        #expect(try SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty)
    }

    /// The streams a finished upload of `name` reports in the bridge's log.
    static func streamsUsed(_ log: String, name: String) -> Int? {
        for line in log.split(separator: "\n") where line.contains("upload of ") && line.contains(" SFTP streams in ") {
            guard line.contains("/\(name):") || line.contains(".\(name):") else { continue }
            guard let over = line.range(of: " over ") else { continue }
            return Int(line[over.upperBound...].prefix { $0.isNumber })
        }
        return nil
    }

    static func pythonString(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "\\'") + "'" }

    static func pythonPrelude(port: Int) -> String {
        "import ftplib, os, sys\nftp = ftplib.FTP()\nftp.connect('\(LoopbackNet.clientSide)', \(port), timeout=120)\nftp.login('anonymous', 'x')\n"
    }

}
