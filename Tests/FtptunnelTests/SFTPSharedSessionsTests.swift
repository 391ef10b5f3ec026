import Foundation
import Testing
import TestSupport

/// Mode sftp shares SSH sessions between FTP sessions (4 FTP sessions per SSH session, each on its own SFTP
/// channel): a burst of FTP sessions needs few SSH logins, a lost shared session is replaced once for all of its
/// FTP sessions, and one FTP session's long transfer does not hold up another on the same SSH session.
@Suite(.serialized) struct SFTPSharedSessionsTests {
    /// FTP sessions per SSH session (`SharedSessions.channelsPerSession`).
    static let channelsPerSession = 4

    @Test func twentyParallelSessionsTransferByteExactOverFiveSSHLogins() throws {
        let world = try SFTPBridgeWorld()
        let count = 20
        for index in 0..<count {
            try TestFiles.random(at: world.remote("down\(index).bin"), size: (1 << 20) + index * 4099, seed: UInt64(100 + index))
            try TestFiles.random(at: world.local("up\(index).bin"), size: (1 << 20) + index * 7919, seed: UInt64(200 + index))
        }
        let loginsBefore = world.sshd.authenticatedSessions
        // All 20 log in before any transfers (a barrier), so all 20 FTP sessions are open at once.
        let client = try ManagedProcess("/usr/bin/python3", ["-u", "-c", """
        import ftplib, hashlib, sys, threading
        port, work, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
        barrier = threading.Barrier(count)
        lock = threading.Lock()
        def run(i):
            try:
                ftp = ftplib.FTP()
                ftp.connect("127.0.0.1", port, timeout=120)
                ftp.login("me", "")
                barrier.wait(timeout=120)
                digest = hashlib.sha256()
                ftp.retrbinary("RETR down%d.bin" % i, digest.update)
                with open("%s/up%d.bin" % (work, i), "rb") as f:
                    ftp.storbinary("STOR up%d.bin" % i, f)
                ftp.quit()
                with lock: print("ok", i, digest.hexdigest(), flush=True)
            except Exception as e:
                with lock: print("failed", i, repr(e), flush=True)
        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        for t in threads: t.start()
        for t in threads: t.join()
        """, "\(world.bridge.localPort)", world.work.path, "\(count)"])
        #expect(try client.waitForExit(seconds: 180) == 0, "\(client.output)")
        let lines = client.output.split(separator: "\n")
        #expect(!lines.contains { $0.hasPrefix("failed") }, "\(client.output)\n\(world.bridge.output)")
        for index in 0..<count {
            let downloaded = lines.first { $0.hasPrefix("ok \(index) ") }.map { String($0.split(separator: " ")[2]) }
            #expect(downloaded == (try TestFiles.sha256(world.remote("down\(index).bin"))), "download \(index)")
            #expect(try TestFiles.sha256(world.remote("up\(index).bin")) == TestFiles.sha256(world.local("up\(index).bin")),
                    "upload \(index)")
        }
        let logins = world.sshd.authenticatedSessions - loginsBefore
        let bound = (count + Self.channelsPerSession - 1) / Self.channelsPerSession
        #expect(logins <= bound, "\(logins) SSH logins for \(count) FTP sessions, expected at most \(bound)")
    }

    @Test func fourSessionsOnOneSharedSSHSessionGoOnAfterTheKillAndTheCutDownloadResumes() throws {
        let world = try SFTPBridgeWorld()
        for index in 0..<3 {
            try FileManager.default.createDirectory(atPath: world.remote("dir\(index)"), withIntermediateDirectories: true)
            try TestFiles.random(at: world.remote("dir\(index)/small.bin"), size: 300_000 + index, seed: UInt64(40 + index))
        }
        try TestFiles.random(at: world.remote("big.bin"), size: 64 << 20, seed: 44)
        var idle: [ManagedProcess] = []
        for index in 0..<3 {
            let client = try SFTPBridgeReconnectTests.ftplibClient(
                world, SFTPBridgeReconnectTests.idleThenRetrieve(directory: "dir\(index)", file: "small.bin"),
                [world.local("small\(index).bin")])
            try client.waitForOutput(containing: "idle")
            idle.append(client)
        }
        let downloader = try SFTPBridgeReconnectTests.ftplibClient(
            world, SFTPBridgeReconnectTests.heldThenResumed(file: "big.bin", holdingAfter: 4 << 20), [world.local("big.bin")])
        try downloader.waitForOutput(containing: "halfway")
        // Four FTP sessions, one SSH session (the bridge's start-up session is gone).
        try Deadline.wait(for: "one SSH session under four FTP sessions", seconds: 10) { world.sshd.sessionProcesses.count == 1 }
        let loginsBefore = world.sshd.authenticatedSessions

        #expect(world.sshd.killSessions() == 1)
        // Noticed between commands by every idle FTP session, although the stalled download's data fills the
        // shared socket in front of the server's end of stream (the session's watcher reads it).
        try Deadline.wait(for: "the idle FTP sessions to notice the lost SSH session", seconds: 20) {
            world.bridge.output.components(separatedBy: "SSH session of this FTP session lost").count - 1 >= 3
        }
        for client in idle { client.send("go\n") }
        downloader.send("go\n")
        for (index, client) in idle.enumerated() {
            #expect(try client.waitForExit(seconds: 60) == 0, "\(client.output)\n\(world.bridge.output)")
            #expect(client.output.contains("pwd /dir\(index)\n"), "\(client.output)")
            #expect(!client.output.contains("421"), "\(client.output)")
            #expect(try TestFiles.sha256(world.local("small\(index).bin")) == TestFiles.sha256(world.remote("dir\(index)/small.bin")))
        }
        #expect(try downloader.waitForExit(seconds: 120) == 0, "\(downloader.output)\n\(world.bridge.output)")
        #expect(downloader.output.contains("interrupted 426"), "\(downloader.output)")
        #expect(try TestFiles.sha256(world.local("big.bin")) == TestFiles.sha256(world.remote("big.bin")))
        // One replacement for all four.
        #expect(world.sshd.authenticatedSessions - loginsBefore == 1, "\(world.sshd.log)")
    }

    @Test func aListingIsNotHeldUpByAStripedUploadOnTheSameSSHSession() throws {
        let world = try SFTPBridgeWorld(delayMilliseconds: 25)
        try TestFiles.random(at: world.local("part.bin"), size: 16 << 20, seed: 61)
        // The upload repeats the file until told to stop (so it is surely running during the listings) and hashes
        // what it sent.
        let uploader = try SFTPBridgeReconnectTests.ftplibClient(world, """
        import hashlib, threading
        stop = threading.Event()
        threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
        class Source:
            def __init__(self, f): self.f = f; self.sent = 0; self.digest = hashlib.sha256()
            def read(self, n):
                if stop.is_set(): return b""
                data = self.f.read(n)
                if not data:
                    self.f.seek(0); data = self.f.read(n)
                self.sent += len(data); self.digest.update(data)
                if self.sent >= 32 << 20 and not hasattr(self, "told"):
                    self.told = True
                    print("uploading", flush=True)
                return data
        with open(sys.argv[2], "rb") as f:
            source = Source(f)
            ftp.storbinary("STOR big.bin", source, blocksize=262144)
        ftp.quit()
        print("uploaded", source.sent, source.digest.hexdigest(), flush=True)
        """, [world.local("part.bin")])
        let lister = try SFTPBridgeReconnectTests.ftplibClient(world, """
        print("ready", flush=True)
        sys.stdin.readline()
        for i in range(3):
            start = time.monotonic()
            ftp.nlst()
            print("listed in %.3f" % (time.monotonic() - start), flush=True)
        ftp.quit()
        """)
        try lister.waitForOutput(containing: "ready")
        try uploader.waitForOutput(containing: "uploading")
        try Deadline.wait(for: "both FTP sessions on one SSH session", seconds: 10) { world.sshd.sessionProcesses.count == 1 }
        lister.send("go\n")
        #expect(try lister.waitForExit(seconds: 60) == 0, "\(lister.output)")
        let seconds = lister.output.split(separator: "\n").compactMap { line -> Double? in
            line.hasPrefix("listed in ") ? Double(line.dropFirst("listed in ".count)) : nil
        }
        #expect(seconds.count == 3 && seconds.allSatisfy { $0 < 3 }, "\(lister.output)")
        #expect(world.bridge.output.contains("SFTP stream 2 added"), "the upload never used a second stream: \(world.bridge.output)")
        uploader.send("stop\n")
        #expect(try uploader.waitForExit(seconds: 120) == 0, "\(uploader.output)\n\(world.bridge.output)")
        let sent = uploader.output.split(separator: "\n").first { $0.hasPrefix("uploaded ") }?.split(separator: " ")
        #expect(sent.map { String($0[2]) } == (try TestFiles.sha256(world.remote("big.bin"))), "\(uploader.output)")
    }
}
