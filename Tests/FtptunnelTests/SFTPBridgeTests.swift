import Foundation
import Testing
import TestSupport

/// Mode sftp against a real sshd offering only `internal-sftp` (no FTP server anywhere): real curl, lftp and
/// Python ftplib through the bridge; every transfer hashed at both ends (the remote side is on this machine).
@Suite(.serialized) struct SFTPBridgeTests {
    static let mebibyte = 1 << 20

    @Test func curlListsDownloadsUploadsResumesAndUsesActiveMode() throws {
        let world = try SFTPBridgeWorld()
        try TestFiles.random(at: world.remote("big.bin"), size: 64 * Self.mebibyte, seed: 1)
        try TestFiles.random(at: world.local("up.bin"), size: 32 * Self.mebibyte, seed: 2)

        let list = try FTPClients.curl(["\(world.url)/"])
        #expect(list.status == 0, "\(list.output)\n\(world.bridge.output)")
        #expect(list.stdout.contains("big.bin"))
        #expect(list.stdout.split(separator: "\n").contains { $0.hasPrefix("-rw-") && $0.contains("67108864") && $0.hasSuffix("big.bin") })

        let down = try FTPClients.curl(["\(world.url)/big.bin", "-o", world.local("down.bin")])
        #expect(down.status == 0, "\(down.output)\n\(world.bridge.output)")
        #expect(try TestFiles.sha256(world.local("down.bin")) == TestFiles.sha256(world.remote("big.bin")))

        let up = try FTPClients.curl(["-T", world.local("up.bin"), "\(world.url)/up.bin"])
        #expect(up.status == 0, "\(up.output)\n\(world.bridge.output)")
        #expect(try TestFiles.sha256(world.remote("up.bin")) == TestFiles.sha256(world.local("up.bin")))
        #expect(try SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty)

        // -C - down: a local copy cut at 10 MiB is completed from the offset.
        try truncatedCopy(of: world.remote("big.bin"), to: world.local("resume.bin"), bytes: 10 * Self.mebibyte)
        let resumeDown = try FTPClients.curl(["-C", "-", "\(world.url)/big.bin", "-o", world.local("resume.bin")])
        #expect(resumeDown.status == 0, "\(resumeDown.output)")
        #expect(try TestFiles.sha256(world.local("resume.bin")) == TestFiles.sha256(world.remote("big.bin")))
        #expect(world.bridge.output.contains("< REST 10485760"))

        // -C - up: a remote copy cut at 5 MiB is completed (REST+STOR writes at the offset, no truncation).
        try truncatedCopy(of: world.local("up.bin"), to: world.remote("partial.bin"), bytes: 5 * Self.mebibyte)
        let resumeUp = try FTPClients.curl(["-C", "-", "-T", world.local("up.bin"), "\(world.url)/partial.bin"])
        #expect(resumeUp.status == 0, "\(resumeUp.output)")
        #expect(try TestFiles.sha256(world.remote("partial.bin")) == TestFiles.sha256(world.local("up.bin")))

        // -P -: active mode, the bridge connects to curl's loopback port.
        let active = try FTPClients.curl(["-P", "-", "\(world.url)/big.bin", "-o", world.local("active.bin")])
        #expect(active.status == 0, "\(active.output)\n\(world.bridge.output)")
        #expect(try TestFiles.sha256(world.local("active.bin")) == TestFiles.sha256(world.remote("big.bin")))
        #expect(world.bridge.output.contains("< EPRT |1|127.0.0.1|") || world.bridge.output.contains("< PORT 127,0,0,1,"))

        // The control port is offered on [::1] too (EPSV there).
        let ipv6 = try FTPClients.curl(["-g", "ftp://[::1]:\(world.bridge.localPort)/big.bin", "-o", world.local("v6.bin")])
        #expect(ipv6.status == 0, "\(ipv6.output)")
        #expect(try TestFiles.sha256(world.local("v6.bin")) == TestFiles.sha256(world.remote("big.bin")))
    }

    @Test func lftpMirrorsBothWaysAndPgetsInParallel() throws {
        let world = try SFTPBridgeWorld()
        for directory in ["tree/a", "tree/b/c"] {
            try FileManager.default.createDirectory(atPath: world.remote(directory), withIntermediateDirectories: true)
        }
        let treeFiles = ["tree/one.bin", "tree/a/two.bin", "tree/b/three.bin", "tree/b/c/four.bin"]
        for (index, name) in treeFiles.enumerated() {
            try TestFiles.random(at: world.remote(name), size: (index + 1) * 700_000, seed: UInt64(10 + index))
        }
        try TestFiles.random(at: world.remote("pget.bin"), size: 16 * Self.mebibyte, seed: 3)
        let result = try FTPClients.lftp(url: world.url, script: [
            "mirror tree \(world.local("mirror"))",
            "mirror -R -P 4 \(world.local("mirror")) back",
            "pget -n 4 pget.bin -o \(world.local("pget.bin"))",
        ])
        #expect(result.status == 0, "\(result.output)\n\(world.bridge.output)")
        for name in treeFiles {
            let relative = String(name.dropFirst("tree/".count))
            #expect(try TestFiles.sha256(world.local("mirror/\(relative)")) == TestFiles.sha256(world.remote(name)))
            #expect(try TestFiles.sha256(world.remote("back/\(relative)")) == TestFiles.sha256(world.remote(name)))
        }
        #expect(try TestFiles.sha256(world.local("pget.bin")) == TestFiles.sha256(world.remote("pget.bin")))
    }

    @Test func ftplibCommandsMapToSFTP() throws {
        let world = try SFTPBridgeWorld()
        try TestFiles.random(at: world.remote("data.bin"), size: 3 * Self.mebibyte, seed: 4)
        try "old".write(toFile: world.remote("existing.txt"), atomically: true, encoding: .utf8)
        let body = """
        import io
        welcome = ftp.getwelcome()
        assert 'any user name, no password' in welcome, welcome
        facts = dict(ftp.mlsd('/'))
        assert facts['data.bin']['type'] == 'file' and facts['data.bin']['size'] == str(3 << 20), facts
        assert ftp.size('data.bin') == 3 << 20
        stamp = ftp.sendcmd('MDTM data.bin')
        expected = __import__('time').strftime('%Y%m%d%H%M%S', __import__('time').gmtime(os.stat(sys.argv[1] + '/data.bin').st_mtime))
        assert stamp == '213 ' + expected, (stamp, expected)
        tail = io.BytesIO()
        ftp.retrbinary('RETR data.bin', tail.write, rest=(3 << 20) - 1000)
        assert tail.getvalue() == open(sys.argv[1] + '/data.bin', 'rb').read()[-1000:]
        ftp.storbinary('STOR notes.txt', io.BytesIO(b'hello world'))
        ftp.storbinary('APPE notes.txt', io.BytesIO(b', appended'))
        ftp.storbinary('STOR notes.txt', io.BytesIO(b'WORLD'), rest=6)
        ftp.storbinary('APPE fresh.txt', io.BytesIO(b'created by APPE'))
        unique = ftp.storbinary('STOU notes.txt', io.BytesIO(b'unique'))
        assert 'notes.txt.1' in unique, unique
        ftp.mkd('dir')
        ftp.cwd('dir')
        assert ftp.pwd() == '/dir'
        ftp.cwd('..'); ftp.cwd('..')
        assert ftp.pwd() == '/'
        ftp.mkd('gone')
        ftp.rmd('gone')
        ftp.rename('notes.txt', 'dir/renamed.txt')
        ftp.rename('dir/renamed.txt', 'existing.txt')
        ftp.sendcmd('SITE CHMOD 640 existing.txt')
        ftp.sendcmd('MFMT 20200102030405 existing.txt')
        assert ftp.sendcmd('MDTM existing.txt') == '213 20200102030405'
        ftp.delete('fresh.txt')
        try:
            ftp.delete('fresh.txt'); raise SystemExit('deleted twice')
        except ftplib.error_perm as e:
            assert str(e).startswith('550 No such file'), e
        try:
            ftp.rmd('dir/../..'); raise SystemExit('rmd root')
        except ftplib.error_perm as e:
            assert str(e).startswith('550'), e
        print('ok')
        """
        let result = try FTPClients.python(host: LoopbackNet.clientSide, port: world.bridge.localPort, user: "whoever",
                                           password: "ignored", body: body, args: [world.root])
        #expect(result.status == 0 && result.stdout.contains("ok"), "\(result.output)\n\(world.bridge.output)")
        #expect(try String(contentsOfFile: world.remote("existing.txt"), encoding: .utf8) == "hello WORLD")
        #expect(try String(contentsOfFile: world.remote("notes.txt.1"), encoding: .utf8) == "unique")
        #expect(!FileManager.default.fileExists(atPath: world.remote("fresh.txt")))
        #expect(!FileManager.default.fileExists(atPath: world.remote("notes.txt")))
        let attributes = try FileManager.default.attributesOfItem(atPath: world.remote("existing.txt"))
        #expect((attributes[.posixPermissions] as? Int) == 0o640)
        #expect((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 == 1_577_934_245)
    }

    @Test func abortedUploadLeavesTheOldFileAndNoTemporary() throws {
        let world = try SFTPBridgeWorld()
        try TestFiles.random(at: world.remote("keep.bin"), size: 2 * Self.mebibyte, seed: 5)
        let before = try TestFiles.sha256(world.remote("keep.bin"))
        // ABOR in the middle of an upload (the data connection still open): 426 + 226, the upload is dropped.
        let client = try FTPClients.python(host: LoopbackNet.clientSide, port: world.bridge.localPort, body: """
        conn = ftp.transfercmd('STOR keep.bin')
        conn.sendall(b'x' * (4 << 20))
        ftp.sock.send(b'ABOR\\r\\n')
        print(ftp.getmultiline()); print(ftp.getmultiline())
        conn.close()
        """)
        #expect(client.status == 0, "\(client.output)\n\(world.bridge.output)")
        #expect(client.stdout.contains("426"), "\(client.output)")
        // The 426 comes after the upload was dropped: nothing is left behind by now.
        #expect(try SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty)
        #expect(try TestFiles.sha256(world.remote("keep.bin")) == before)

        // A client killed mid-upload (both connections drop): the old file stays too.
        let killed = try FTPClients.python(host: LoopbackNet.clientSide, port: world.bridge.localPort, body: """
        conn = ftp.transfercmd('STOR keep.bin')
        conn.sendall(b'y' * (3 << 20))
        os._exit(0)
        """)
        #expect(killed.status == 0, "\(killed.output)")
        try Deadline.wait(for: "the bridge to log the second incomplete upload") {
            world.bridge.output.components(separatedBy: " failed after ").count >= 3
        }
        #expect(try SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty)
        #expect(try TestFiles.sha256(world.remote("keep.bin")) == before)
    }

    /// A download whose data connection the client drops, and one it aborts: 426, and the session goes on.
    @Test func droppedAndAbortedDownloadsLeaveTheSessionUsable() throws {
        let world = try SFTPBridgeWorld()
        try TestFiles.random(at: world.remote("big.bin"), size: 48 * Self.mebibyte, seed: 9)
        let result = try FTPClients.python(host: LoopbackNet.clientSide, port: world.bridge.localPort, body: """
        import hashlib
        conn = ftp.transfercmd('RETR big.bin')
        conn.recv(1 << 20)
        conn.close()
        reply = ftp.getmultiline()
        assert reply.startswith('426'), reply
        conn = ftp.transfercmd('RETR big.bin')
        conn.recv(1 << 20)
        ftp.sock.send(b'ABOR\\r\\n')
        replies = [ftp.getmultiline(), ftp.getmultiline()]
        conn.close()
        assert replies[0].startswith('426') and replies[1].startswith('226'), replies
        digest = hashlib.sha256()
        ftp.retrbinary('RETR big.bin', digest.update)
        print(digest.hexdigest())
        """)
        #expect(result.status == 0, "\(result.output)\n\(world.bridge.output)")
        #expect(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == (try TestFiles.sha256(world.remote("big.bin"))))
    }

    @Test func permissionDeniedIsA550WithTheReason() throws {
        _ = try TunnelTestUser.withFreshPassword()
        let shared = try TempDirectory("sftp-perm")
        chmod(shared.path, 0o755)
        let locked = try shared.makeDirectory("locked")
        try "secret".write(toFile: locked + "/secret.txt", atomically: true, encoding: .utf8)
        chmod(locked, 0o700)  // owned by root: the test account may not enter or read it
        try "readable".write(toFile: shared.file("public.txt"), atomically: true, encoding: .utf8)
        let world = try SFTPBridgeWorld(sshUser: TunnelTestUser.name, root: shared.path)
        let result = try FTPClients.python(host: LoopbackNet.clientSide, port: world.bridge.localPort, body: """
        import io
        for command in ['CWD locked', 'RETR locked/secret.txt', 'MLSD locked']:
            try:
                if command.startswith('RETR'):
                    ftp.retrbinary(command, lambda b: None)
                elif command.startswith('MLSD'):
                    list(ftp.mlsd('locked'))
                else:
                    ftp.sendcmd(command)
                raise SystemExit(command + ' succeeded')
            except ftplib.error_perm as e:
                assert str(e) == '550 Permission denied.', (command, str(e))
        try:
            ftp.storbinary('STOR new.txt', io.BytesIO(b'x')); raise SystemExit('stored into a root-owned directory')
        except ftplib.error_perm as e:
            assert str(e) == '550 Permission denied.', str(e)
        out = io.BytesIO(); ftp.retrbinary('RETR public.txt', out.write)
        assert out.getvalue() == b'readable'
        print('ok')
        """)
        #expect(result.status == 0 && result.stdout.contains("ok"), "\(result.output)\n\(world.bridge.output)")
        #expect(world.bridge.output.contains("serving \(TunnelTestUser.name)@"))
        #expect(!FileManager.default.fileExists(atPath: shared.file("new.txt")))
    }

    @Test func anotherLocalUserIsRefused() throws {
        let world = try SFTPBridgeWorld()
        try "mine".write(toFile: world.remote("file.txt"), atomically: true, encoding: .utf8)
        chmod(world.work.path, 0o755)
        let other = try runCommand("runuser", ["-u", "nobody", "--", "curl", "-sS", "-v", "--max-time", "20",
                                               "\(world.url)/file.txt", "-o", "/dev/null"], seconds: 30)
        #expect(other.status != 0)
        #expect(other.stderr.contains("421 This FTP bridge serves its owner's SSH account"), "\(other.output)")
        #expect(world.bridge.output.contains("refused: its socket belongs to uid 65534"))
        let owner = try FTPClients.curl(["\(world.url)/file.txt"])
        #expect(owner.status == 0 && owner.stdout == "mine", "\(owner.output)")
    }

    @Test func aServerWithoutSFTPIsReportedAtStart() throws {
        let world = try SFTPBridgeWorld(subsystem: false, waitForReady: false)
        let status = try world.bridge.process.waitForExit(seconds: 30)
        #expect(status != 0)
        #expect(world.bridge.output.contains("offers no SFTP subsystem"), "\(world.bridge.output)")
        #expect(!world.bridge.output.contains(TunnelProcess.readyMarker))
    }

    @Test func rcloneListsAndCopiesBothWays() throws {
        let world = try SFTPBridgeWorld()
        let source = try world.work.makeDirectory("rclone-up/sub")
        try TestFiles.random(at: world.local("rclone-up/a.bin"), size: 5 * Self.mebibyte, seed: 6)
        try TestFiles.random(at: source + "/b.bin", size: 300_000, seed: 7)
        try TestFiles.random(at: world.remote("listed.bin"), size: 1000, seed: 8)
        var env = ProcessInfo.processInfo.environment
        env["RCLONE_CONFIG"] = "/dev/null"
        env["RCLONE_FTP_HOST"] = LoopbackNet.clientSide
        env["RCLONE_FTP_PORT"] = "\(world.bridge.localPort)"
        env["RCLONE_FTP_USER"] = "anyone"
        // rclone insists on a password (obscured); the bridge ignores it. Passed in the environment, not argv.
        env["RCLONE_FTP_PASS"] = try runChecked("rclone", ["obscure", "unused"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let list = try runCommand("rclone", ["lsf", ":ftp:"], seconds: 60, environment: env)
        #expect(list.status == 0 && list.stdout.split(separator: "\n").contains("listed.bin"), "\(list.output)\n\(world.bridge.output)")
        let up = try runCommand("rclone", ["copy", world.local("rclone-up"), ":ftp:copied"], seconds: 120, environment: env)
        #expect(up.status == 0, "\(up.output)\n\(world.bridge.output)")
        let down = try runCommand("rclone", ["copy", ":ftp:copied", world.local("rclone-down")], seconds: 120, environment: env)
        #expect(down.status == 0, "\(down.output)\n\(world.bridge.output)")
        for name in ["a.bin", "sub/b.bin"] {
            let original = try TestFiles.sha256(world.local("rclone-up/\(name)"))
            #expect(try TestFiles.sha256(world.remote("copied/\(name)")) == original, "\(name)")
            #expect(try TestFiles.sha256(world.local("rclone-down/\(name)")) == original, "\(name)")
        }
    }

    /// With `Reconnect no`, the SSH session of one FTP session dies: that session gets 421 and ends; the next FTP
    /// session gets a new one. (With Reconnect, the default, the session is replaced: SFTPBridgeReconnectTests.)
    @Test func withoutReconnectALostSSHSessionIs421ForThatFTPSessionOnly() throws {
        let world = try SFTPBridgeWorld(bridgeArguments: ["-o", "Reconnect=no"])
        try "still here".write(toFile: world.remote("file.txt"), atomically: true, encoding: .utf8)
        try Deadline.wait(for: "the check session at start to end") { world.sshd.sessionProcesses.isEmpty }
        let control = try RawFTPControl(host: LoopbackNet.clientSide, port: world.bridge.localPort)
        #expect(control.readReply()?.hasPrefix("220 ") == true)
        #expect(control.command("USER me")?.hasPrefix("230 ") == true)
        #expect(control.command("SIZE file.txt") == "213 10")
        let victim = try #require(world.sshd.sessionProcesses.first)
        world.sshd.killSession(victim)
        let reply = control.command("SIZE file.txt")
        #expect(reply == "421 Connection to the file server lost; closing the session.", "\(reply ?? "nil")\n\(world.bridge.output)")
        #expect(world.bridge.output.contains("Reconnect is off"), "\(world.bridge.output)")
        #expect(control.isClosedByServer())
        let again = try FTPClients.curl(["\(world.url)/file.txt"])
        #expect(again.status == 0 && again.stdout == "still here", "\(again.output)\n\(world.bridge.output)")
    }

    /// Every FTP session needs its own SSH login, which keyboard-interactive answers cannot give: refused at start.
    @Test func keyboardInteractiveLoginIsRefusedAtStart() throws {
        let scenario = try KeyboardInteractiveScenario(payloadSize: 1000)
        let asked = scenario.work.file("asked.log")
        let bridge = try scenario.startTunnel(
            askpass: try CountingAskpass.environment(secret: scenario.password, log: asked, in: scenario.work),
            extraArguments: ["--mode", "sftp"])
        let status = try bridge.waitForExit(seconds: 30)
        #expect(status != 0, "\(bridge.output)")
        #expect(bridge.output.contains("Mode sftp opens one SSH session per FTP session, but this login used keyboard-interactive authentication"),
                "\(bridge.output)")
        #expect(!bridge.output.contains(TunnelProcess.readyMarker))
        #expect(CountingAskpass.invocations(asked) == 1)
    }

    /// A full file system on the server (a 1 MiB tmpfs as SFTPRoot): 552, the old file intact, no temporary left,
    /// and the session still works.
    @Test func aFullDiskIs552() throws {
        let mountPoint = try TempDirectory("sftp-full")
        try runChecked("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint.path])
        // Lazy: the SFTP server process of the last session may still be exiting.
        defer { _ = try? runCommand("umount", ["-l", mountPoint.path]) }
        try "small and old".write(toFile: mountPoint.file("target.bin"), atomically: false, encoding: .utf8)
        let world = try SFTPBridgeWorld(root: mountPoint.path)
        let result = try FTPClients.python(host: LoopbackNet.clientSide, port: world.bridge.localPort, body: """
        import io
        try:
            ftp.storbinary('STOR target.bin', io.BytesIO(b'z' * (4 << 20)))
            raise SystemExit('4 MiB fitted into 1 MiB')
        except ftplib.error_perm as e:
            print(e)
        # The session goes on (on a fresh SFTP channel: libssh2 leaves the old one out of step after a failed write).
        ftp.storbinary('STOR small.txt', io.BytesIO(b'fits'))
        print(sorted(ftp.nlst()))
        """)
        try Self.expectFullDiskOutcome(result, world: world, mountPoint: mountPoint)
    }

    /// A burst of FTP sessions, each with its own SSH login: all served (logins are paced under sshd's MaxStartups).
    @Test func aBurstOfSessionsIsServed() throws {
        let world = try SFTPBridgeWorld()
        try TestFiles.random(at: world.remote("shared.bin"), size: 2 * Self.mebibyte, seed: 12)
        let count = 14
        let clients = try (0..<count).map { index in
            try ManagedProcess(try which("curl"), ["-sS", "--max-time", "120", "\(world.url)/shared.bin", "-o", world.local("burst\(index).bin")])
        }
        let expected = try TestFiles.sha256(world.remote("shared.bin"))
        for (index, client) in clients.enumerated() {
            let status = try client.waitForExit(seconds: 150)
            #expect(status == 0, "client \(index): \(client.output)\n\(world.bridge.output)")
            #expect(try TestFiles.sha256(world.local("burst\(index).bin")) == expected)
        }
    }

    /// The SSH server is gone when an FTP client connects: 421 naming the reason; once it is back, sessions work.
    @Test func anUnreachableServerIs421UntilItReturns() throws {
        let world = try SFTPBridgeWorld()
        try "back".write(toFile: world.remote("file.txt"), atomically: true, encoding: .utf8)
        world.sshd.kill()
        let control = try RawFTPControl(host: LoopbackNet.clientSide, port: world.bridge.localPort)
        let reply = control.readReply() ?? "nil"
        #expect(reply.hasPrefix("421 Cannot reach the SFTP server"), "\(reply)\n\(world.bridge.output)")
        #expect(control.isClosedByServer())
        try world.sshd.restart()
        let again = try FTPClients.curl(["\(world.url)/file.txt"])
        #expect(again.status == 0 && again.stdout == "back", "\(again.output)\n\(world.bridge.output)")
    }

    /// PORT/EPRT may name only the client's own address, and no port below 1024 (no FTP bounce through the bridge).
    @Test func activeModeConnectsOnlyToTheClientsOwnAddress() throws {
        let world = try SFTPBridgeWorld()
        let control = try RawFTPControl(host: LoopbackNet.clientSide, port: world.bridge.localPort)
        #expect(control.readReply()?.hasPrefix("220 ") == true)
        #expect(control.command("USER me")?.hasPrefix("230 ") == true)
        for refused in ["PORT 127,0,0,2,100,100", "EPRT |1|127.0.0.2|25700|", "PORT 127,0,0,1,0,25", "EPRT |2|::1|25700|"] {
            let reply = control.command(refused) ?? "nil"
            #expect(reply.hasPrefix("501 Active mode connects only to your own address (127.0.0.1)"), "\(refused): \(reply)")
        }
        #expect(control.command("PORT 1,2,3")?.hasPrefix("501 ") == true)
        #expect(control.command("EPRT |3|x|1|")?.hasPrefix("522 ") == true)
        #expect(control.command("EPSV ALL")?.hasPrefix("200 ") == true)
        #expect(control.command("PORT 127,0,0,1,100,100")?.hasPrefix("503 ") == true)
        #expect(control.command("QUIT")?.hasPrefix("221 ") == true)
    }

    @Test func checkSaysWhetherModeSftpFits() throws {
        let world = try SFTPBridgeWorld()
        try "x".write(toFile: world.remote("listed.txt"), atomically: true, encoding: .utf8)
        // Default mode: no FTP server answers, but SFTP is there.
        let plain = try check(world, [])
        #expect(plain.status == 1, "\(plain.output)")
        #expect(plain.stderr.contains("no FTP server answered"), "\(plain.output)")
        #expect(plain.stderr.contains("ftptunnel: SFTP: offered"), "\(plain.output)")
        #expect(plain.stderr.contains("Mode sftp would fit"), "\(plain.output)")
        // Mode sftp: the bridge itself lists the root.
        let bridged = try check(world, ["--mode", "sftp", "--sftp-root", world.root])
        #expect(bridged.status == 0, "\(bridged.output)")
        // The server's canonical path of the root (NSTemporaryDirectory's doubled slash resolved).
        #expect(bridged.stdout.contains("SFTPRoot is /"), "\(bridged.output)")
        #expect(bridged.stdout.contains((world.root as NSString).lastPathComponent + "."), "\(bridged.output)")
        #expect(bridged.stdout.contains("EPSV + LIST through the bridge works"), "\(bridged.output)")
        let missing = try check(world, ["--mode", "sftp", "--sftp-root", world.root + "/nonexistent"])
        #expect(missing.status == 1, "\(missing.output)")
        #expect(missing.stdout.contains("cannot be used (no such file or directory)"), "\(missing.output)")
    }

    @Test func checkReportsAServerWithoutSFTP() throws {
        let world = try SFTPBridgeWorld(subsystem: false, waitForReady: false)
        let result = try check(world, ["--mode", "sftp"])
        #expect(result.status == 1, "\(result.output)")
        #expect(result.stdout.contains("SFTP: not offered by the SSH server"), "\(result.output)")
        #expect(result.stdout.contains("Mode sftp: does not fit"), "\(result.output)")
    }

    private func check(_ world: SFTPBridgeWorld, _ extra: [String]) throws -> CommandResult {
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = world.bridge.home.path
        for key in ["SSH_AUTH_SOCK", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE"] { env.removeValue(forKey: key) }
        return try runCommand(try Products.ftptunnel, ["check", "\(world.sshd.user)@\(world.sshd.host):\(world.sshd.port)",
                                                       "-i", world.sshd.userKey, "--known-hosts", world.knownHosts] + extra,
                              seconds: 60, environment: env)
    }


    private func truncatedCopy(of source: String, to target: String, bytes: Int) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: source))
        try data.prefix(bytes).write(to: URL(fileURLWithPath: target))
    }

    /// After an upload that met a full disk and a small one after it: 552 to the client, the old file untouched,
    /// no temporary left, the small file stored.
    static func expectFullDiskOutcome(_ result: CommandResult, world: SFTPBridgeWorld, mountPoint: TempDirectory) throws {
        #expect(result.status == 0, "\(result.output)\n\(world.bridge.output)")
        #expect(result.stdout.hasPrefix("552 No space left."), "\(result.output)\n\(world.bridge.output)")
        #expect(result.stdout.contains("['small.txt', 'target.bin']"), "\(result.output)")
        #expect(try String(contentsOfFile: mountPoint.file("target.bin"), encoding: .utf8) == "small and old")
        #expect(try SFTPBridgeWorld.temporaryUploads(in: mountPoint.path).isEmpty)
    }
}
