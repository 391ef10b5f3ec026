import Foundation
import Testing
import TestSupport

/// Mode sftp leaves no temporary upload file behind when an SSH session dies mid-upload: the next working session
/// removes it, or the next bridge started for the same destination when the first one is gone; a running
/// bridge's upload in progress is never touched.
@Suite struct SFTPBridgeLeftoverTests {
    static let size = 8 << 20

    @Test func anUploadCutBySSHLeavesNoTemporaryOnceASessionWorksAgain() throws {
        let world = try SFTPBridgeWorld()
        try TestFiles.random(at: world.remote("keep.bin"), size: 1 << 20, seed: 3)
        let before = try TestFiles.sha256(world.remote("keep.bin"))
        try TestFiles.random(at: world.local("new.bin"), size: Self.size, seed: 4)
        try Deadline.wait(for: "the check session at start to end") { world.sshd.sessionProcesses.isEmpty }

        let upload = try slowUpload(world.local("new.bin"), to: "\(world.url)/keep.bin")
        let temporary = try waitForPartialTemporary(in: world.root)
        // The SSH connection drops: sshd's processes of that session die.
        world.sshd.killSessions()
        #expect(try upload.waitForExit(seconds: 30) != 0, "the cut upload fails")
        try Deadline.wait(for: "the bridge to note the temporary left on the server") {
            world.bridge.output.contains("left on the server")
        }
        _ = temporary

        // The next working SSH session removes the temporary before serving: the cut FTP session's replacement
        // (if curl had not left yet) or the next FTP session's.
        let listing = try FTPClients.curl(["\(world.url)/"])
        #expect(listing.status == 0, "\(listing.output)\n\(world.bridge.output)")
        #expect(try SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty, "\(world.bridge.output)")
        #expect(try TestFiles.sha256(world.remote("keep.bin")) == before, "the final name is untouched")
        #expect(world.bridge.output.contains("removed the temporary upload"))
    }

    @Test func aBridgeStartedLaterRemovesTheTemporaryOfAKilledBridgeButNeverALiveOnes() throws {
        let world = try SFTPBridgeWorld()
        try TestFiles.random(at: world.local("new.bin"), size: Self.size, seed: 6)
        let upload = try slowUpload(world.local("new.bin"), to: "\(world.url)/new.bin")
        let temporary = try waitForPartialTemporary(in: world.root)

        // A second bridge (same HOME, same destination) starts while the first one's upload runs: it leaves it.
        let second = try world.anotherBridge()
        #expect(FileManager.default.fileExists(atPath: world.remote(temporary)), "\(second.output)")
        second.process.stop()

        // The first bridge is killed mid-upload: its SSH session ends and nobody removes the temporary.
        world.bridge.process.signal(SIGKILL)
        _ = try world.bridge.process.waitForExit(seconds: 30)
        #expect(try upload.waitForExit(seconds: 30) != 0)
        try Deadline.wait(for: "sshd to end the killed bridge's session") { world.sshd.sessionProcesses.isEmpty }
        #expect(FileManager.default.fileExists(atPath: world.remote(temporary)), "the kill left the temporary file")

        // The next bridge for that destination removes it at start (before its ready line).
        let third = try world.anotherBridge()
        #expect(try SFTPBridgeWorld.temporaryUploads(in: world.root).isEmpty, "\(third.output)")
        #expect(!FileManager.default.fileExists(atPath: world.remote("new.bin")), "nothing partial under the final name")
        #expect(third.output.contains("removed the temporary upload"), "\(third.output)")
    }

    /// curl uploading at 1 MB/s, so the upload is still running when the test cuts it.
    private func slowUpload(_ local: String, to url: String) throws -> ManagedProcess {
        try ManagedProcess(try which("curl"), ["-sS", "--max-time", "60", "--limit-rate", "1M", "-T", local, url])
    }

    /// The temporary's name once at least 1 MiB reached the server.
    private func waitForPartialTemporary(in root: String) throws -> String {
        try Deadline.value(of: "a partial temporary upload on the server") { () -> String? in
            try SFTPBridgeWorld.temporaryUploads(in: root).first { TestFiles.size("\(root)/\($0)") >= 1 << 20 }
        }
    }

}
