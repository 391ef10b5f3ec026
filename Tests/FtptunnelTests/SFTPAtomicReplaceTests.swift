import Foundation
import Testing
import TestSupport

/// Mode sftp replaces an existing file the way rename(2) does, in one step, with OpenSSH's
/// posix-rename@openssh.com on a raw SFTP channel of the FTP session: a STOR over an existing file (striped or not)
/// and an RNTO onto one. A process on the server polling the name never finds it missing; the content is hashed.
/// Where the server refuses the extra channel (sshd's MaxSessions), the old way still works: remove, then rename.
@Suite(.serialized) struct SFTPAtomicReplaceTests {
    /// A small STOR (not striped) over an existing file, twice, and an RNTO over it: one raw channel is started for
    /// the first replace and kept for the next ones.
    @Test func storAndRntoOverAnExistingFileNeverLeaveItsNameMissing() throws {
        let world = try SFTPBridgeWorld()
        try TestFiles.random(at: world.local("new.bin"), size: 300_001, seed: 51)
        try TestFiles.random(at: world.remote("target.bin"), size: 1000, seed: 52)
        chmod(world.remote("target.bin"), 0o600)
        try TestFiles.random(at: world.remote("source.bin"), size: 77_777, seed: 53)
        let sourceHash = try TestFiles.sha256(world.remote("source.bin"))
        let watcher = try NameWatcher(world.remote("target.bin"), in: world.work)
        let client = try FTPClients.python(host: LoopbackNet.clientSide, port: world.bridge.localPort, body: """
        for attempt in range(2):
            with open(\(SFTPStripedUploadTests.pythonString(world.local("new.bin"))), 'rb') as f:
                print(ftp.storbinary('STOR target.bin', f))
        print(ftp.sendcmd('SIZE target.bin'))
        print(ftp.rename('source.bin', 'target.bin'))
        """, seconds: 60)
        let seen = try #require(try watcher.finish())
        #expect(client.status == 0, "\(client.output)\n\(world.bridge.output)")
        #expect(client.stdout.contains("213 300001"), "\(client.output)")
        #expect(try TestFiles.sha256(world.remote("target.bin")) == sourceHash)
        #expect(!FileManager.default.fileExists(atPath: world.remote("source.bin")))
        #expect(try SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty)
        #expect(seen.looks > 0 && seen.missing == 0, "\(seen)\n\(world.bridge.output)")
    }

    /// The target's look and the temporary's exclusive open go out together: a STOR onto a directory or a FIFO is
    /// refused (550) after both answers, the temporary it created is removed, and the session goes on.
    @Test func storOntoADirectoryOrFIFOIsRefusedAndLeavesNoTemporary() throws {
        let world = try SFTPBridgeWorld()
        try FileManager.default.createDirectory(atPath: world.remote("dir"), withIntermediateDirectories: false)
        #expect(mkfifo(world.remote("fifo"), 0o644) == 0)
        let client = try FTPClients.python(host: LoopbackNet.clientSide, port: world.bridge.localPort, body: """
        import io
        for name in ('dir', 'fifo'):
            try:
                ftp.storbinary('STOR ' + name, io.BytesIO(b'x' * 1000)); print('stored', name)
            except ftplib.error_perm as e:
                print('refused', name, str(e)[:3])
        print(ftp.storbinary('STOR plain.txt', io.BytesIO(b'plain')))
        """, seconds: 60)
        #expect(client.status == 0, "\(client.output)\n\(world.bridge.output)")
        #expect(client.stdout.contains("refused dir 550") && client.stdout.contains("refused fifo 550"), "\(client.output)")
        #expect(try String(contentsOfFile: world.remote("plain.txt"), encoding: .utf8) == "plain")
        #expect(try SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty)
    }

    /// Room for one channel per SSH session only: no raw channel can be started, so the old file is removed first
    /// (the log says why) and every replace still lands byte-exact.
    @Test func withoutRoomForAnotherChannelTheOldFileIsRemovedFirst() throws {
        let world = try SFTPBridgeWorld(sshdConfig: ["MaxSessions 1"])
        try TestFiles.random(at: world.local("new.bin"), size: 200_003, seed: 54)
        try TestFiles.random(at: world.remote("target.bin"), size: 1000, seed: 55)
        try TestFiles.random(at: world.remote("source.bin"), size: 5000, seed: 56)
        let sourceHash = try TestFiles.sha256(world.remote("source.bin"))
        let client = try FTPClients.python(host: LoopbackNet.clientSide, port: world.bridge.localPort, body: """
        with open(\(SFTPStripedUploadTests.pythonString(world.local("new.bin"))), 'rb') as f:
            print(ftp.storbinary('STOR target.bin', f))
        print(ftp.sendcmd('SIZE target.bin'))
        print(ftp.rename('source.bin', 'target.bin'))
        """, seconds: 60)
        #expect(client.status == 0, "\(client.output)\n\(world.bridge.output)")
        #expect(client.stdout.contains("213 200003"), "\(client.output)")
        #expect(try TestFiles.sha256(world.remote("target.bin")) == sourceHash)
        #expect(try SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty)
        #expect(world.bridge.output.contains("no SFTP channel for an atomic rename"), "\(world.bridge.output)")
    }

    /// A server whose VERSION offers no extensions (OpenSSH's sftp-server behind a filter): the bridge does not send
    /// posix-rename@openssh.com or a striped fsync it was not offered; it removes the old file first and every
    /// replace still lands byte-exact, striped or not.
    @Test func aServerWithoutExtensionsGetsV3RenamesAndStillByteExactFiles() throws {
        let scripts = try TempDirectory("sftp-subsystem")
        let wrapper = try scripts.write("sftp-filter.py", Self.filteringSubsystem(stripExtensions: true, failFsync: false), mode: 0o755)
        let world = try SFTPBridgeWorld(subsystemCommand: "/usr/bin/python3 \(wrapper)", delayMilliseconds: 25)
        try TestFiles.random(at: world.local("big.bin"), size: 24 * (1 << 20) + 9, seed: 57)
        try TestFiles.random(at: world.local("small.bin"), size: 40_000, seed: 58)
        try TestFiles.random(at: world.remote("target.bin"), size: 1000, seed: 59)
        let up = try FTPClients.curl(["-T", world.local("big.bin"), "\(world.url)/target.bin",
                                      "-T", world.local("small.bin"), "\(world.url)/small.bin",
                                      "-T", world.local("small.bin"), "\(world.url)/small.bin"])
        #expect(up.status == 0, "\(up.output)\n\(world.bridge.output)")
        #expect(try TestFiles.sha256(world.remote("target.bin")) == TestFiles.sha256(world.local("big.bin")))
        #expect(try TestFiles.sha256(world.remote("small.bin")) == TestFiles.sha256(world.local("small.bin")))
        #expect(try SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty)
        #expect(try #require(SFTPStripedUploadTests.streamsUsed(world.bridge.output, name: "target.bin")) > 1, "\(world.bridge.output)")
    }

    /// The striped upload's fsync@openssh.com fails (the filter answers it with SSH_FX_FAILURE, as a disk that
    /// cannot write back would): the client is told the upload failed, the old file stays as it was and no
    /// temporary is left.
    @Test func aFailedFsyncFailsTheUploadAndKeepsTheOldFile() throws {
        let scripts = try TempDirectory("sftp-subsystem")
        let wrapper = try scripts.write("sftp-filter.py", Self.filteringSubsystem(stripExtensions: false, failFsync: true), mode: 0o755)
        let world = try SFTPBridgeWorld(subsystemCommand: "/usr/bin/python3 \(wrapper)", delayMilliseconds: 25)
        try TestFiles.random(at: world.local("big.bin"), size: 24 * (1 << 20) + 9, seed: 60)
        try TestFiles.random(at: world.remote("target.bin"), size: 1000, seed: 61)
        let before = try TestFiles.sha256(world.remote("target.bin"))
        let client = try FTPClients.python(host: LoopbackNet.clientSide, port: world.bridge.localPort, body: """
        try:
            with open(\(SFTPStripedUploadTests.pythonString(world.local("big.bin"))), 'rb') as f:
                print(ftp.storbinary('STOR target.bin', f))
        except ftplib.all_errors as e:
            print('stor-reply', str(e)[:3])
        print(ftp.sendcmd('NOOP'))
        """, seconds: 120)
        #expect(client.status == 0, "\(client.output)\n\(world.bridge.output)")
        #expect(client.stdout.contains("stor-reply 4") || client.stdout.contains("stor-reply 5"), "\(client.output)\n\(world.bridge.output)")
        #expect(client.stdout.contains("200"), "\(client.output)")
        #expect(try TestFiles.sha256(world.remote("target.bin")) == before)
        #expect(try SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty)
        #expect(world.bridge.output.contains("failed: fsync (the SFTP server could not get the data onto its disk"), "\(world.bridge.output)")
    }

    /// OpenSSH's sftp-server behind a filter: with `stripExtensions` its VERSION lists none; with `failFsync` every
    /// fsync@openssh.com request is answered SSH_FX_FAILURE without reaching the server.
    static func filteringSubsystem(stripExtensions: Bool, failFsync: Bool) -> String {
        SFTPServerFilter.script("""
        STRIP = \(stripExtensions ? "True" : "False")
        FAIL_FSYNC = \(failFsync ? "True" : "False")

        def on_answer(packet):
            if STRIP and packet[4] == 2:
                return struct.pack(">I", 5) + packet[4:9]
            return packet

        def on_request(packet):
            if FAIL_FSYNC and packet[4] == 200:
                length = struct.unpack(">I", packet[9:13])[0]
                if packet[13:13 + length] == b"fsync@openssh.com":
                    message = b"injected fsync failure"
                    body = bytes([101]) + packet[5:9] + struct.pack(">I", 4) + struct.pack(">I", len(message)) + message + struct.pack(">I", 0)
                    answer(struct.pack(">I", len(body)) + body)
                    return None
            return packet
        """)
    }
}

