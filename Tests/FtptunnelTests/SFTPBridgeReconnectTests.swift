import Foundation
import Testing
import TestSupport

/// Mode sftp: an FTP session outlives its SSH session. The bridge notices a dead session at once, replaces it under
/// the tunnel's reconnect rules, and the FTP session goes on in its directory; a transfer cut by the drop gets 426
/// and resumes with REST; a change in flight gets 451 and is never sent again; a server gone for good or presenting
/// another host key gets a 421 within the bound.
@Suite(.serialized) struct SFTPBridgeReconnectTests {
    /// An ftplib body: enters `directory`, prints "idle", waits for a line on stdin, prints its PWD, downloads `file`
    /// into argv[2] and prints "done": the FTP session must survive whatever happened while it waited.
    static func idleThenRetrieve(directory: String, file: String) -> String {
        """
        ftp.cwd("\(directory)")
        ftp.voidcmd("TYPE I")
        print("idle", flush=True)
        sys.stdin.readline()
        print("pwd", ftp.pwd(), flush=True)
        with open(sys.argv[2], "wb") as f:
            ftp.retrbinary("RETR \(file)", f.write)
        ftp.quit()
        print("done", flush=True)
        """
    }

    /// The ftplib body of a download whose client stops reading once `holdingAfter` bytes arrived (prints "halfway",
    /// then waits for a line on stdin while the test cuts the SSH session), then resumes it with REST: prints
    /// "interrupted NNN" (or "finished-without-drop"), "resuming at N" and "resumed". argv[2] is the local file.
    static func heldThenResumed(file: String, holdingAfter bytes: Int) -> String {
        """
        ftp.voidcmd("TYPE I")
        out = open(sys.argv[2], "wb")
        got = [0]
        def sink(chunk):
            out.write(chunk); got[0] += len(chunk)
            if got[0] >= \(bytes) and not hasattr(sink, "told"):
                sink.told = True
                print("halfway", flush=True)
                sys.stdin.readline()  # the client stops reading while the SSH session is killed
        try:
            ftp.retrbinary("RETR \(file)", sink, blocksize=65536)
            print("finished-without-drop", flush=True)
        except ftplib.all_errors as e:
            print("interrupted", str(e)[:3], flush=True)
        out.flush()
        print("resuming at", out.tell(), flush=True)
        ftp.retrbinary("RETR \(file)", out.write, rest=out.tell())
        out.close()
        print("resumed", flush=True)
        ftp.quit()
        """
    }

    /// A Python ftplib client of `world`'s bridge, logged in, running `body` (argv[2…] are `arguments`).
    static func ftplibClient(_ world: SFTPBridgeWorld, _ body: String, _ arguments: [String] = []) throws -> ManagedProcess {
        try ManagedProcess("/usr/bin/python3", ["-u", "-c", """
        import ftplib, sys, time
        ftp = ftplib.FTP()
        ftp.connect("127.0.0.1", int(sys.argv[1]), timeout=120)
        ftp.login("me", "")
        \(body)
        """, "\(world.bridge.localPort)"] + arguments)
    }

    /// Kills the per-connection sshd processes (and their children): the SSH connections drop, sshd still listens.
    static func killSessions(_ world: SFTPBridgeWorld) {
        world.sshd.killSessions()
    }

    @Test func anIdleSessionInASubdirectoryKeepsWorkingAfterAnSSHDRestart() throws {
        let world = try SFTPBridgeWorld()
        try FileManager.default.createDirectory(atPath: world.remote("sub"), withIntermediateDirectories: true)
        try TestFiles.random(at: world.remote("sub/file.bin"), size: 3 << 20, seed: 19)
        let client = try Self.ftplibClient(world, Self.idleThenRetrieve(directory: "sub", file: "file.bin"), [world.local("file.bin")])
        try client.waitForOutput(containing: "idle")

        world.sshd.kill()
        // Noticed between commands (the socket's end of stream), not at the next command.
        try Deadline.wait(for: "the bridge to notice the lost SSH session", seconds: 20) {
            world.bridge.output.contains("SSH session of this FTP session lost")
        }
        try world.sshd.restart()
        client.send("go\n")
        #expect(try client.waitForExit(seconds: 90) == 0, "\(client.output)\n\(world.bridge.output)")
        #expect(client.output.contains("pwd /sub\n"), "\(client.output)")
        #expect(try TestFiles.sha256(world.local("file.bin")) == TestFiles.sha256(world.remote("sub/file.bin")))
        #expect(world.bridge.output.contains("SSH session replaced"), "\(world.bridge.output)")
        #expect(!client.output.contains("421"), "\(client.output)")
    }

    @Test func aDownloadCutByTheDropGets426AndResumesWithRest() throws {
        let world = try SFTPBridgeWorld()
        try TestFiles.random(at: world.remote("big.bin"), size: 64 << 20, seed: 26)
        let client = try Self.ftplibClient(world, Self.heldThenResumed(file: "big.bin", holdingAfter: 4 << 20),
                                           [world.local("big.bin")])
        try client.waitForOutput(containing: "halfway", seconds: 60)
        Self.killSessions(world)
        client.send("go\n")
        #expect(try client.waitForExit(seconds: 120) == 0, "\(client.output)\n\(world.bridge.output)")
        #expect(client.output.contains("interrupted 426"), "\(client.output)")
        #expect(try TestFiles.sha256(world.local("big.bin")) == TestFiles.sha256(world.remote("big.bin")),
                "\(client.output)\n\(world.bridge.output)")
        #expect(world.bridge.output.contains("SSH session replaced"), "\(world.bridge.output)")
    }

    /// An upload cut by the drop gets 426, leaves nothing under the final name, and its temporary file is removed
    /// once the session is back; the same FTP session then uploads the file byte-exact.
    @Test func anUploadCutByTheDropGets426AndTheSameSessionUploadsAgain() throws {
        let world = try SFTPBridgeWorld()
        try TestFiles.random(at: world.local("up.bin"), size: 16 << 20, seed: 16)
        let client = try Self.ftplibClient(world, """
        class Source:
            def __init__(self, path):
                self.f = open(path, "rb"); self.sent = 0; self.told = False
            def read(self, n):
                if self.sent >= 4 << 20 and not self.told:
                    self.told = True
                    print("halfway", flush=True)
                    sys.stdin.readline()  # the upload pauses while the SSH session is killed
                chunk = self.f.read(n); self.sent += len(chunk); return chunk
        try:
            ftp.storbinary("STOR up.bin", Source(sys.argv[2]), blocksize=65536)
            print("stored-without-drop", flush=True)
        except ftplib.error_temp as e:
            print("interrupted", str(e)[:3], flush=True)
        except OSError:
            try:
                ftp.getresp()
                print("no-error-reply", flush=True)
            except ftplib.error_temp as e:
                print("interrupted", str(e)[:3], flush=True)
        with open(sys.argv[2], "rb") as f:
            ftp.storbinary("STOR up.bin", f)
        print("stored", flush=True)
        ftp.quit()
        """, [world.local("up.bin")])
        try client.waitForOutput(containing: "halfway", seconds: 60)
        Self.killSessions(world)
        client.send("go\n")
        #expect(try client.waitForExit(seconds: 120) == 0, "\(client.output)\n\(world.bridge.output)")
        #expect(client.output.contains("interrupted 426"), "\(client.output)\n\(world.bridge.output)")
        #expect(try TestFiles.sha256(world.remote("up.bin")) == TestFiles.sha256(world.local("up.bin")))
        let leftovers = try SFTPBridgeWorld.temporaryUploads(in: world.root)
        #expect(leftovers.isEmpty, "\(leftovers)\n\(world.bridge.output)")
        #expect(world.bridge.output.contains("removed the temporary upload"), "\(world.bridge.output)")
    }

    /// The SFTP server executes the REMOVE, then the connection drops before its answer: the client is told 451,
    /// and the bridge never sends the REMOVE again (the subsystem records every REMOVE it is sent, on any session).
    @Test func aDeleteInFlightWhenTheSessionDiesGets451AndIsNeverRepeated() throws {
        let scripts = try TempDirectory("sftp-subsystem")
        let record = scripts.file("removes.log")
        let wrapper = try scripts.write("sftp-wrapper.py", Self.removeRecordingSubsystem(record: record), mode: 0o755)
        let world = try SFTPBridgeWorld(subsystemCommand: "/usr/bin/python3 \(wrapper)")
        try TestFiles.random(at: world.remote("victim.bin"), size: 1000, seed: 1)
        try TestFiles.random(at: world.remote("other.bin"), size: 1000, seed: 2)
        let client = try Self.ftplibClient(world, """
        try:
            ftp.delete("victim.bin")
            print("dele-reply 250", flush=True)
        except ftplib.all_errors as e:
            print("dele-reply", str(e)[:3], flush=True)
        print("names", sorted(ftp.nlst()), flush=True)
        ftp.delete("other.bin")
        print("second delete ok", flush=True)
        ftp.quit()
        """)
        try Deadline.wait(for: "the subsystem to execute the REMOVE and hold its answer", seconds: 30) {
            FileManager.default.fileExists(atPath: record + ".held")
        }
        Self.killSessions(world)
        #expect(try client.waitForExit(seconds: 90) == 0, "\(client.output)\n\(world.bridge.output)")
        #expect(client.output.contains("dele-reply 451"), "\(client.output)")
        #expect(client.output.contains("names ['other.bin']"), "\(client.output)")
        #expect(client.output.contains("second delete ok"), "\(client.output)")
        let removes = ((try? String(contentsOfFile: record, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(removes.filter { $0.hasSuffix("victim.bin") }.count == 1, "REMOVEs sent: \(removes)\n\(world.bridge.output)")
        #expect(removes.filter { $0.hasSuffix("other.bin") }.count == 1, "REMOVEs sent: \(removes)")
    }

    /// A hung server (its session processes stopped, TCP still up): an idle FTP session's ServerAlive probe goes
    /// unanswered, the SSH session is replaced, and the client's next command is answered on the new one.
    @Test func serverAliveReplacesTheSessionOfAnIdleClientWhenTheServerHangs() throws {
        let world = try SFTPBridgeWorld(bridgeArguments: ["-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=1"])
        try TestFiles.random(at: world.remote("a.bin"), size: 1234, seed: 8)
        let client = try Self.ftplibClient(world, """
        ftp.voidcmd("TYPE I")
        print("idle", flush=True)
        sys.stdin.readline()
        print("size", ftp.size("a.bin"), flush=True)
        ftp.quit()
        """)
        try client.waitForOutput(containing: "idle")
        try Deadline.wait(for: "only the FTP session's SSH session to remain") { world.sshd.sessionProcesses.count == 1 }
        let frozen = try ProcessFreeze.sessions(of: world.sshd)
        defer { frozen.thaw() }
        let hungAt = Date()
        try Deadline.wait(for: "the unanswered probe", seconds: 30) {
            world.bridge.output.contains("did not answer a ServerAlive probe")
        }
        let noticed = Date().timeIntervalSince(hungAt)
        try Deadline.wait(for: "the replacement", seconds: 30) { world.bridge.output.contains("SSH session replaced") }
        client.send("go\n")
        #expect(try client.waitForExit(seconds: 60) == 0, "\(client.output)\n\(world.bridge.output)")
        #expect(client.output.contains("size 1234"), "\(client.output)")
        // Interval 2 s, CountMax 1: probe after 2 s idle, dead 2 s later (plus up to one interval already idle).
        #expect(noticed < 10, "noticed after \(noticed) s")
        print("sftp ServerAlive: hung server noticed \(String(format: "%.1f", noticed)) s after SIGSTOP (interval 2 s, count 1)")
    }

    @Test func aServerGoneForGoodGetsA421WithinTheBound() throws {
        let world = try SFTPBridgeWorld(bridgeArguments: ["-o", "ConnectTimeout=3"])
        try TestFiles.random(at: world.remote("a.bin"), size: 1000, seed: 5)
        let client = try Self.ftplibClient(world, """
        print("idle", flush=True)
        sys.stdin.readline()
        started = time.monotonic()
        try:
            ftp.size("a.bin")
            print("reply 213")
        except ftplib.all_errors as e:
            print("reply", str(e)[:3], "after", round(time.monotonic() - started, 1), flush=True)
            print("text", str(e), flush=True)
        """)
        try client.waitForOutput(containing: "idle")
        world.sshd.kill()
        try Deadline.wait(for: "the bridge to notice the lost SSH session", seconds: 20) {
            world.bridge.output.contains("SSH session of this FTP session lost")
        }
        let asked = Date()
        client.send("go\n")
        #expect(try client.waitForExit(seconds: 60) == 0, "\(client.output)")
        let seconds = Date().timeIntervalSince(asked)
        #expect(client.output.contains("reply 421"), "\(client.output)\n\(world.bridge.output)")
        // ConnectTimeout 3: attempts for 3 s, the last one bounded by its own 3 s connect.
        #expect(seconds < 15, "421 after \(seconds) s")
        #expect(client.output.contains("no SSH session to the SFTP server") || client.output.contains("Connection to the file server lost"),
                "\(client.output)")
        print("sftp reconnect: 421 \(String(format: "%.1f", seconds)) s after the command with sshd gone (ConnectTimeout 3)")
    }

    @Test func aServerReturningWithAnotherHostKeyIsRefused() throws {
        let world = try SFTPBridgeWorld()
        try TestFiles.random(at: world.remote("a.bin"), size: 1000, seed: 7)
        let client = try Self.ftplibClient(world, """
        print("idle", flush=True)
        sys.stdin.readline()
        try:
            ftp.size("a.bin")
            print("reply 213")
        except ftplib.all_errors as e:
            print("reply", str(e)[:3], flush=True)
        """)
        try client.waitForOutput(containing: "idle")
        world.sshd.kill()
        try Deadline.wait(for: "the bridge to notice the lost SSH session", seconds: 20) {
            world.bridge.output.contains("SSH session of this FTP session lost")
        }
        try world.sshd.restart(withNewHostKey: true)
        client.send("go\n")
        #expect(try client.waitForExit(seconds: 60) == 0, "\(client.output)")
        #expect(client.output.contains("reply 421"), "\(client.output)\n\(world.bridge.output)")
        #expect(world.bridge.output.contains("now presents host key"), "\(world.bridge.output)")
        #expect(!world.bridge.output.contains("SSH session replaced"), "\(world.bridge.output)")
        // A new FTP client is refused as well: no session with the other key, ever.
        let curl = try FTPClients.curl(["-sS", "\(world.url)/a.bin", "-o", world.local("a.bin")], seconds: 60)
        #expect(curl.status != 0, "\(curl.output)")
        #expect(!FileManager.default.fileExists(atPath: world.local("a.bin")) || TestFiles.size(world.local("a.bin")) == 0)
    }

    /// An SFTP subsystem that runs OpenSSH's sftp-server behind a relay recording every REMOVE (SSH_FXP_REMOVE, 13)
    /// in `record`. For `victim.bin` the REMOVE is executed, its answer held back, and `record.held` created (the
    /// test then kills the session, so the answer never reaches the client).
    static func removeRecordingSubsystem(record: String) -> String {
        SFTPServerFilter.script("""
        RECORD = \(String(reflecting: record))
        held = set()

        def on_request(packet):
            if packet[4] == 13:
                request = struct.unpack(">I", packet[5:9])[0]
                length = struct.unpack(">I", packet[9:13])[0]
                name = packet[13:13 + length].decode("utf-8", "replace")
                with open(RECORD, "a") as f:
                    f.write("REMOVE " + name + "\\n")
                if name.endswith("victim.bin"):
                    with lock:
                        held.add(request)
            return packet

        def on_answer(packet):
            if packet[4] != 2 and len(packet) >= 9:
                with lock:
                    if struct.unpack(">I", packet[5:9])[0] in held:
                        open(RECORD + ".held", "w").close()
                        return None
            return packet
        """)
    }
}
