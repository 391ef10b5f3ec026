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
}
