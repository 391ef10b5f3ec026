import Foundation
import Testing
import TestSupport

/// Mode sftp's large downloads over a raw SFTP channel with 16 MiB of reads in flight (`SFTPRawDownload`), through
/// the delay proxy (25 ms each way) to a real sshd: byte-exact whole and from a REST offset, and never reported
/// complete when the file is cut on the server while it is sent, the client aborts, or the SSH session dies.
@Suite(.serialized) struct SFTPRawDownloadTests {
    static let mebibyte = 1 << 20

    /// A download large enough to start a raw channel, then one from a REST offset on the channel kept from it.
    @Test func largeDownloadsGoOverARawChannelWholeAndFromAnOffset() throws {
        let world = try SFTPBridgeWorld(delayMilliseconds: 25)
        try TestFiles.random(at: world.remote("big.bin"), size: 80 * Self.mebibyte + 4321, seed: 71)
        let client = try FTPClients.python(host: LoopbackNet.clientSide, port: world.bridge.localPort, body: """
        with open(sys.argv[1], 'wb') as f:
            print(ftp.retrbinary('RETR big.bin', f.write, blocksize=262144))
        with open(sys.argv[2], 'wb') as f:
            print(ftp.retrbinary('RETR big.bin', f.write, blocksize=262144, rest=12345))
        """, args: [world.local("whole.bin"), world.local("tail.bin")], seconds: 180)
        #expect(client.status == 0, "\(client.output)\n\(world.bridge.output)")
        #expect(try TestFiles.sha256(world.local("whole.bin")) == TestFiles.sha256(world.remote("big.bin")))
        let whole = try Data(contentsOf: URL(fileURLWithPath: world.remote("big.bin")))
        let tail = try Data(contentsOf: URL(fileURLWithPath: world.local("tail.bin")))
        #expect(tail == whole.dropFirst(12345))
        let rawLines = world.bridge.output.components(separatedBy: "over a raw SFTP channel").count - 1
        #expect(rawLines == 2, "\(world.bridge.output)")
    }

    /// The file is cut to 10 MiB on the server while the client holds its reads: the download ends with 426 and
    /// fewer bytes than the file had, never 226.
    @Test func aFileCutWhileItIsSentIsNeverReportedComplete() throws {
        let world = try SFTPBridgeWorld(delayMilliseconds: 25)
        try TestFiles.random(at: world.remote("cut.bin"), size: 96 * Self.mebibyte, seed: 72)
        let client = try SFTPBridgeReconnectTests.ftplibClient(world, """
        ftp.voidcmd("TYPE I")
        got = [0]
        def sink(chunk):
            got[0] += len(chunk)
            if got[0] >= 4 << 20 and not hasattr(sink, "told"):
                sink.told = True
                print("holding", flush=True)
                sys.stdin.readline()
        try:
            print("reply", ftp.retrbinary("RETR cut.bin", sink, blocksize=65536)[:3], got[0], flush=True)
        except ftplib.all_errors as e:
            print("reply", str(e)[:3], got[0], flush=True)
        print(ftp.sendcmd("NOOP"), flush=True)
        """)
        try client.waitForOutput(containing: "holding")
        #expect(truncate(world.remote("cut.bin"), off_t(10 * Self.mebibyte)) == 0)
        client.send("go\n")
        #expect(try client.waitForExit(seconds: 120) == 0, "\(client.output)\n\(world.bridge.output)")
        #expect(client.output.contains("reply 426"), "\(client.output)\n\(world.bridge.output)")
        #expect(!client.output.contains("reply 226"), "\(client.output)")
        #expect(client.output.contains("200"), "\(client.output)")
        #expect(world.bridge.output.contains("file ended early"), "\(world.bridge.output)")
    }

    /// ABOR in the middle of a raw download: the channel with reads in flight is shut down, and the next download
    /// of the session is byte-exact.
    @Test func anAbortedDownloadLeavesTheSessionWorking() throws {
        let world = try SFTPBridgeWorld(delayMilliseconds: 25)
        try TestFiles.random(at: world.remote("big.bin"), size: 80 * Self.mebibyte, seed: 73)
        let client = try SFTPBridgeReconnectTests.ftplibClient(world, """
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("RETR big.bin")
        got = 0
        while got < 8 << 20:
            chunk = conn.recv(65536)
            if not chunk:
                break
            got += len(chunk)
        ftp.sock.send(b"ABOR\\r\\n")
        replies = [ftp.getmultiline(), ftp.getmultiline()]
        conn.close()
        print("abort replies", replies, flush=True)
        with open(sys.argv[2], "wb") as f:
            print(ftp.retrbinary("RETR big.bin", f.write, blocksize=262144), flush=True)
        """, [world.local("again.bin")])
        #expect(try client.waitForExit(seconds: 180) == 0, "\(client.output)\n\(world.bridge.output)")
        #expect(client.output.contains("abort replies ['426"), "\(client.output)\n\(world.bridge.output)")
        #expect(client.output.contains("226"), "\(client.output)\n\(world.bridge.output)")
        #expect(try TestFiles.sha256(world.local("again.bin")) == TestFiles.sha256(world.remote("big.bin")))
    }

    /// The SSH session dies while a raw download's client holds its reads: 426, and REST resumes it byte-exact on
    /// the replacement session.
    @Test func aDownloadCutByALostSessionResumesByteExact() throws {
        let world = try SFTPBridgeWorld(delayMilliseconds: 25)
        try TestFiles.random(at: world.remote("big.bin"), size: 80 * Self.mebibyte + 7, seed: 74)
        let client = try SFTPBridgeReconnectTests.ftplibClient(
            world, SFTPBridgeReconnectTests.heldThenResumed(file: "big.bin", holdingAfter: 6 << 20), [world.local("big.bin")])
        try client.waitForOutput(containing: "halfway")
        #expect(world.sshd.killSessions() >= 1)
        client.send("go\n")
        #expect(try client.waitForExit(seconds: 180) == 0, "\(client.output)\n\(world.bridge.output)")
        #expect(client.output.contains("interrupted 426"), "\(client.output)\n\(world.bridge.output)")
        #expect(try TestFiles.sha256(world.local("big.bin")) == TestFiles.sha256(world.remote("big.bin")))
    }

    /// The file is replaced between the RETR's open and the raw channel's (simulated: the SFTP server behind a filter
    /// opens another, larger file for every OPEN of it after the first, as the raw download's is): the
    /// FSTAT check sees another size, nothing goes out over the raw channel, and the client gets the RETR's file
    /// byte-exact through the FTP session's own channel (without the check it would get the other file's first bytes).
    @Test func aFileReplacedBetweenTheTwoOpensIsReadThroughTheOwnChannel() throws {
        let scripts = try TempDirectory("sftp-subsystem")
        let root = try TempDirectory("sftp-root")
        let original = root.file("big.bin")
        let other = root.file("other.bin")
        try TestFiles.random(at: original, size: 80 * Self.mebibyte, seed: 75)
        try TestFiles.random(at: other, size: 96 * Self.mebibyte, seed: 76)
        let wrapper = try scripts.write("sftp-swap.py", Self.openSwappingSubsystem(from: "big.bin", to: "other.bin",
                                                                                  marker: scripts.file("first-open")), mode: 0o755)
        let world = try SFTPBridgeWorld(root: root.path, subsystemCommand: "/usr/bin/python3 \(wrapper)", delayMilliseconds: 25)
        let client = try FTPClients.python(host: LoopbackNet.clientSide, port: world.bridge.localPort, body: """
        with open(sys.argv[1], 'wb') as f:
            print(ftp.retrbinary('RETR big.bin', f.write, blocksize=262144))
        """, args: [world.local("got.bin")], seconds: 180)
        #expect(client.status == 0, "\(client.output)\n\(world.bridge.output)")
        #expect(try TestFiles.sha256(world.local("got.bin")) == TestFiles.sha256(original))
        #expect(world.bridge.output.contains("reads through the FTP session's own channel: the file changed between its two opens"),
                "\(world.bridge.output)")
    }

    /// OpenSSH's sftp-server behind a filter that lets the first OPEN of a path ending in `/from` through (on any
    /// channel: `marker` is created by it) and opens the same directory's `to` for every later one (every other
    /// request and every answer passes unchanged).
    static func openSwappingSubsystem(from: String, to: String, marker: String) -> String {
        SFTPServerFilter.script("""
        MARKER = \(String(reflecting: marker))
        FROM = b"/" + \(String(reflecting: from)).encode()
        TO = b"/" + \(String(reflecting: to)).encode()

        def first_open():
            try:
                os.close(os.open(MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                return True
            except FileExistsError:
                return False

        def on_request(packet):
            if packet[4] == 3:
                length = struct.unpack(">I", packet[9:13])[0]
                path = packet[13:13 + length]
                if path.endswith(FROM) and not first_open():
                    swapped = path[:-len(FROM)] + TO
                    body = bytes([3]) + packet[5:9] + struct.pack(">I", len(swapped)) + swapped + packet[13 + length:]
                    return struct.pack(">I", len(body)) + body
            return packet
        """)
    }
}

