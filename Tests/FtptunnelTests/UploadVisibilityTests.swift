import Foundation
import Testing
import TestSupport

/// pasvd's `--upload-visibility` and the bridge's `SFTPUploads`, against the real pasvd and the real bridge (sshd's
/// internal-sftp). Debian 12 has no curlftpfs, so its sequence is replayed with Python sockets: an empty STOR held
/// open on one connection while `LIST -a` runs on another, then the data, then a second LIST. `immediate` must
/// show the file during the upload, `atomic` must not; both end with the whole file, hashed at both ends. In
/// immediate mode REST+STOR and APPE stay byte-exact, and a cut upload leaves what the documentation says.
@Suite(.serialized) struct UploadVisibilityTests {
    enum Server: String, Sendable { case pasvd, bridge }

    /// A running server, its FTP address and the directory it serves (checked directly: same machine).
    final class Running: @unchecked Sendable {
        let host: String
        let port: Int
        let root: String
        private let keep: [AnyObject]
        init(host: String, port: Int, root: String, keep: [AnyObject]) {
            self.host = host
            self.port = port
            self.root = root
            self.keep = keep
        }
        func path(_ name: String) -> String { "\(root)/\(name)" }
    }

    private func start(_ server: Server, _ visibility: String) throws -> Running {
        switch server {
        case .pasvd:
            let root = try TempDirectory("visibility-root")
            let pasvd = try PasvdFixture(root: root.path, extraArguments: [
                "--anonymous", "--writable", "--pasv-address", LoopbackNet.serverSide, "--upload-visibility", visibility,
            ])
            return Running(host: pasvd.host, port: pasvd.port, root: root.path, keep: [root, pasvd])
        case .bridge:
            let world = try SFTPBridgeWorld(bridgeArguments: ["-o", "SFTPUploads=\(visibility)"])
            return Running(host: LoopbackNet.clientSide, port: world.bridge.localPort, root: world.root, keep: [world])
        }
    }

    /// Runs one scenario of `script` against `server`; fails the test when Python fails.
    private func run(_ server: Running, _ arguments: [String]) throws -> String {
        let result = try runCommand("python3", ["-c", UploadVisibilityTests.script, server.host, "\(server.port)"] + arguments,
                                    seconds: 120)
        #expect(result.status == 0, "\(result.output)")
        return result.stdout
    }

    // MARK: - curlftpfs's sequence

    @Test func pasvdImmediateShowsAnOpenUploadToAnotherSession() throws {
        try expectCurlftpfsSequence(.pasvd, visibility: "immediate", visibleDuring: true)
    }

    @Test func pasvdAtomicHidesAnOpenUploadUntilItCompletes() throws {
        try expectCurlftpfsSequence(.pasvd, visibility: "atomic", visibleDuring: false)
    }

    @Test func bridgeImmediateShowsAnOpenUploadToAnotherSession() throws {
        try expectCurlftpfsSequence(.bridge, visibility: "immediate", visibleDuring: true)
    }

    @Test func bridgeAtomicHidesAnOpenUploadUntilItCompletes() throws {
        try expectCurlftpfsSequence(.bridge, visibility: "atomic", visibleDuring: false)
    }

    private func expectCurlftpfsSequence(_ kind: Server, visibility: String, visibleDuring: Bool) throws {
        let server = try start(kind, visibility)
        let local = try TempDirectory("visibility-local")
        try TestFiles.random(at: local.file("new.bin"), size: 3 << 20 | 12_345, seed: 20)
        let out = try run(server, ["curlftpfs", "new.bin", local.file("new.bin")])
        // During: a new file this upload created, with no byte yet.
        #expect(out.contains(visibleDuring ? "DURING True 0" : "DURING False None"), "\(kind) \(visibility): \(out)")
        let size = TestFiles.size(local.file("new.bin"))
        #expect(out.contains("AFTER True \(size)"), "\(kind) \(visibility): \(out)")
        let sent = try TestFiles.sha256(local.file("new.bin"))
        #expect(out.contains("SENT \(sent)"), "\(out)")
        #expect(try TestFiles.sha256(server.path("new.bin")) == sent)
    }

    // MARK: - Resume and append in immediate mode

    @Test(arguments: [Server.pasvd, .bridge])
    func immediateRestStorAppeAndStouAreByteExact(_ kind: Server) throws {
        let server = try start(kind, "immediate")
        let local = try TempDirectory("visibility-local")
        // REST 300000 + STOR of 200000 bytes over a 1 MiB file: its first 300000 bytes, then the new ones, cut there.
        try TestFiles.random(at: server.path("resumed.bin"), size: 1 << 20, seed: 21)
        try TestFiles.random(at: local.file("tail.bin"), size: 200_000, seed: 22)
        let old = try Data(contentsOf: URL(fileURLWithPath: server.path("resumed.bin")))
        let tail = try Data(contentsOf: URL(fileURLWithPath: local.file("tail.bin")))
        // APPE of 150000 bytes to a 100000-byte file.
        try TestFiles.random(at: server.path("appended.bin"), size: 100_000, seed: 23)
        try TestFiles.random(at: local.file("more.bin"), size: 150_000, seed: 24)
        let before = try Data(contentsOf: URL(fileURLWithPath: server.path("appended.bin")))
        let more = try Data(contentsOf: URL(fileURLWithPath: local.file("more.bin")))

        let out = try run(server, ["rest", "resumed.bin", local.file("tail.bin"), "300000"])
        #expect(out.contains("REST 226"), "\(kind): \(out)")
        let resumed = try Data(contentsOf: URL(fileURLWithPath: server.path("resumed.bin")))
        #expect(resumed == old.prefix(300_000) + tail, "\(kind): \(resumed.count) bytes")

        let appended = try run(server, ["appe", "appended.bin", local.file("more.bin")])
        #expect(appended.contains("APPE 226"), "\(kind): \(appended)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: server.path("appended.bin"))) == before + more)

        // STOU twice onto a taken name: two new names, the taken file untouched.
        try TestFiles.random(at: server.path("u.bin"), size: 1_000, seed: 32)
        let taken = try TestFiles.sha256(server.path("u.bin"))
        let unique = try run(server, ["stou", "u.bin", local.file("more.bin")])
        #expect(unique.contains("STOU 226") && !unique.contains("STOU 5"), "\(kind): \(unique)")
        #expect(try TestFiles.sha256(server.path("u.bin")) == taken)
        for name in ["u.bin.1", "u.bin.2"] {
            #expect(try TestFiles.sha256(server.path(name)) == TestFiles.sha256(local.file("more.bin")), "\(kind) \(name)")
        }
    }

    // MARK: - A cut upload in immediate mode

    /// The client resets the data connection after the server has written part of a 6 MiB upload over a 3 MiB
    /// file: the file holds a prefix of the new bytes (what arrived) and nothing of the old file; the client gets
    /// an error reply, not 226.
    @Test(arguments: [Server.pasvd, .bridge])
    func aCutImmediateUploadLeavesTheBytesThatArrived(_ kind: Server) throws {
        let server = try start(kind, "immediate")
        let local = try TempDirectory("visibility-local")
        try TestFiles.random(at: server.path("cut.bin"), size: 3 << 20, seed: 25)
        try TestFiles.random(at: local.file("cut.bin"), size: 6 << 20, seed: 26)
        let out = try run(server, ["cut", "cut.bin", local.file("cut.bin"), server.path("cut.bin")])
        #expect(out.contains("ARRIVED True"), "\(kind): \(out)")
        #expect(out.contains("CUTREPLY 4") || out.contains("CUTREPLY 5"), "\(kind): \(out)")
        let left = try Data(contentsOf: URL(fileURLWithPath: server.path("cut.bin")))
        let sent = try Data(contentsOf: URL(fileURLWithPath: local.file("cut.bin")))
        #expect(left.count > 0 && left.count <= sent.count, "\(kind): \(left.count) bytes left")
        #expect(left == sent.prefix(left.count), "\(kind): the file is not a prefix of the upload (\(left.count) bytes)")
    }

    /// A data connection reset before any byte: an existing file is untouched, a file the upload created is gone.
    @Test(arguments: [Server.pasvd, .bridge])
    func anImmediateUploadCutBeforeItsFirstByteChangesNothing(_ kind: Server) throws {
        let server = try start(kind, "immediate")
        try TestFiles.random(at: server.path("kept.bin"), size: 500_000, seed: 27)
        let kept = try TestFiles.sha256(server.path("kept.bin"))
        let out = try run(server, ["empty-cut", "kept.bin", "fresh.bin"])
        #expect(out.contains("EMPTYCUT kept.bin 4") || out.contains("EMPTYCUT kept.bin 5"), "\(kind): \(out)")
        #expect(out.contains("EMPTYCUT fresh.bin 4") || out.contains("EMPTYCUT fresh.bin 5"), "\(kind): \(out)")
        #expect(try TestFiles.sha256(server.path("kept.bin")) == kept)
        #expect(!FileManager.default.fileExists(atPath: server.path("fresh.bin")), "\(kind): an empty cut upload left its new file")
    }

    /// Immediate mode never writes through a final symlink, into a FIFO (which would hang an open without
    /// O_NONBLOCK) or onto a directory: each STOR is refused with a 5xx, the session goes on, and the symlink's
    /// target, the FIFO and the directory stay as they were.
    @Test(arguments: [Server.pasvd, .bridge])
    func immediateUploadsRefuseSymlinksFIFOsAndDirectories(_ kind: Server) throws {
        let server = try start(kind, "immediate")
        let local = try TempDirectory("visibility-local")
        try TestFiles.random(at: server.path("target.bin"), size: 10_000, seed: 30)
        let target = try TestFiles.sha256(server.path("target.bin"))
        try FileManager.default.createSymbolicLink(atPath: server.path("link.bin"), withDestinationPath: "target.bin")
        #expect(mkfifo(server.path("pipe"), 0o666) == 0)
        try FileManager.default.createDirectory(atPath: server.path("dir"), withIntermediateDirectories: false)
        try TestFiles.random(at: local.file("payload.bin"), size: 5_000, seed: 31)
        let out = try run(server, ["refused", local.file("payload.bin"), "link.bin", "pipe", "dir"])
        for name in ["link.bin", "pipe", "dir"] {
            #expect(out.contains("REFUSED \(name) 5"), "\(kind) \(name): \(out)")
        }
        #expect(out.contains("STILL 200"), "\(kind): \(out)")
        #expect(try TestFiles.sha256(server.path("target.bin")) == target)
        let link = try FileManager.default.attributesOfItem(atPath: server.path("link.bin"))[.type] as? FileAttributeType
        #expect(link == .typeSymbolicLink)
        var info = stat()
        #expect(lstat(server.path("pipe"), &info) == 0 && info.st_mode & S_IFMT == S_IFIFO)
    }

    /// pasvd, immediate: a STOR to a file another session is uploading to waits for that upload's lock before it
    /// touches the file (the file keeps the first upload's bytes meanwhile), then replaces it.
    @Test func pasvdImmediateUploadsToOneFileTakeTurns() throws {
        let server = try start(.pasvd, "immediate")
        let local = try TempDirectory("visibility-local")
        try TestFiles.random(at: local.file("first.bin"), size: 1 << 20, seed: 28)
        try TestFiles.random(at: local.file("second.bin"), size: 700_000, seed: 29)
        let out = try run(server, ["turns", "turns.bin", local.file("first.bin"), local.file("second.bin"),
                                   server.path("turns.bin")])
        #expect(out.contains("SECOND WAITED True"), "\(out)")
        #expect(out.contains("FIRST 226") && out.contains("SECOND 226"), "\(out)")
        #expect(try TestFiles.sha256(server.path("turns.bin")) == TestFiles.sha256(local.file("second.bin")))
    }

    /// The scenarios: `python3 -c SCRIPT HOST PORT SCENARIO ARGS…`. Every wait has a deadline.
    static let script = #"""
    import ftplib, hashlib, os, select, socket, struct, sys, threading, time

    host, port, scenario, args = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]

    def login():
        ftp = ftplib.FTP()
        ftp.connect(host, port, timeout=60)
        ftp.login("anonymous", "test@")
        ftp.voidcmd("TYPE I")
        return ftp

    def listing(ftp):
        lines = []
        ftp.retrlines("LIST -a", lines.append)
        sizes = {}
        for line in lines:
            fields = line.split(None, 8)
            if len(fields) == 9:
                sizes[fields[8]] = int(fields[4])
        return sizes

    def reset(sock):
        # SO_LINGER 0: close sends RST, so the server sees a cut connection, not the end of the upload.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    def reply_code(ftp):
        try:
            return ftp.voidresp()[:3]
        except ftplib.all_errors as error:
            return str(error)[:3]

    def wait_for(condition, seconds, what):
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit("timed out waiting for " + what)
            time.sleep(0.01)

    if scenario == "curlftpfs":
        name, source = args
        writer, reader = login(), login()
        data = open(source, "rb").read()
        conn = writer.transfercmd("STOR " + name)  # 150 received: the upload is open, no byte sent
        during = listing(reader)
        print("DURING", name in during, during.get(name))
        conn.sendall(data)
        conn.close()
        writer.voidresp()
        after = listing(reader)
        print("AFTER", name in after, after.get(name))
        print("SENT", hashlib.sha256(data).hexdigest())
        writer.quit(); reader.quit()
    elif scenario == "rest":
        name, source, offset = args
        ftp = login()
        with open(source, "rb") as f:
            print("REST", ftp.storbinary("STOR " + name, f, rest=int(offset))[:3])
        ftp.quit()
    elif scenario == "appe":
        name, source = args
        ftp = login()
        with open(source, "rb") as f:
            print("APPE", ftp.storbinary("APPE " + name, f)[:3])
        ftp.quit()
    elif scenario == "cut":
        name, source, remote = args
        data = open(source, "rb").read()
        ftp = login()
        conn = ftp.transfercmd("STOR " + name)
        conn.setblocking(False)  # one thread sends and watches; close() must not race a blocked send
        head = data[:65536]
        def arrived():
            with open(remote, "rb") as f:
                return f.read(65536) == head
        # Send until the server has written new bytes under the name (the bridge after its first 2 MiB of
        # SFTP writes), then reset the connection.
        sent, deadline = 0, time.monotonic() + 60
        while not arrived():
            if time.monotonic() > deadline:
                raise SystemExit("timed out waiting for the first bytes on the server")
            if sent < len(data):
                if select.select([], [conn], [], 0.05)[1]:
                    try:
                        sent += conn.send(data[sent:sent + 65536])
                    except BlockingIOError:
                        pass
            else:
                time.sleep(0.01)
        print("ARRIVED", arrived())
        reset(conn)
        print("CUTREPLY", reply_code(ftp))
        ftp.quit()
    elif scenario == "stou":
        name, source = args
        ftp = login()
        for _ in range(2):
            with open(source, "rb") as f:
                print("STOU", ftp.storbinary("STOU " + name, f)[:3])
        ftp.quit()
    elif scenario == "refused":
        source, names = args[0], args[1:]
        ftp = login()
        for name in names:
            try:
                with open(source, "rb") as f:
                    print("REFUSED", name, ftp.storbinary("STOR " + name, f)[:3])
            except ftplib.all_errors as error:
                print("REFUSED", name, str(error)[:3])
        print("STILL", ftp.voidcmd("NOOP")[:3])
        ftp.quit()
    elif scenario == "empty-cut":
        ftp = login()
        for name in args:
            conn = ftp.transfercmd("STOR " + name)
            reset(conn)
            print("EMPTYCUT", name, reply_code(ftp))
        ftp.quit()
    elif scenario == "turns":
        name, first_source, second_source, remote = args
        first_data, second_data = open(first_source, "rb").read(), open(second_source, "rb").read()
        first, second = login(), login()
        conn = first.transfercmd("STOR " + name)  # holds the file's lock
        first.sock.settimeout(60)
        results = {}
        def second_upload():
            with open(second_source, "rb") as f:
                results["second"] = second.storbinary("STOR " + name, f)[:3]
        thread = threading.Thread(target=second_upload, daemon=True)
        thread.start()
        # The second STOR is sent and waits for the lock: no 150 for it while the first upload is open.
        conn.sendall(first_data[:4096])
        wait_for(lambda: os.path.getsize(remote) == 4096, 30, "the first upload's bytes")
        thread.join(1.0)
        print("SECOND WAITED", thread.is_alive() and os.path.getsize(remote) == 4096)
        conn.sendall(first_data[4096:])
        conn.close()
        print("FIRST", first.voidresp()[:3])
        thread.join(60)
        print("SECOND", results.get("second"))
        first.quit(); second.quit()
    """#
}
