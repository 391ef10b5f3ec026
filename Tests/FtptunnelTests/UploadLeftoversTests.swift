import Foundation
import Logging
import Testing
import TestSupport
@testable import ftptunnel

/// The rule that keeps Mode sftp's clean-up safe, on a real journal directory: only names journaled for this
/// destination by processes that have exited, and only names of temporary uploads.
@Suite struct UploadLeftoversTests {
    static let destination = "alice@example.org:22"

    @Test func onlyEntriesOfExitedProcessesForThisDestinationNamingATemporaryAreSwept() throws {
        let state = try TempDirectory("leftovers-state")
        let leftovers = UploadLeftovers(destination: Self.destination, environment: ["XDG_STATE_HOME": state.path],
                                        logger: Logger(label: "test"))
        let journal = try #require(leftovers.journal)
        #expect(journal == "\(state.path)/ftptunnel/bridge-uploads")
        // An entry of this process (written the way an upload journals itself), still running: never swept.
        let running = leftovers.begin(Array("/srv/a/.ftptunnel-upload-00aa.a.bin".utf8), token: "00aa")
        #expect(running.file.map { FileManager.default.fileExists(atPath: $0) } == true)
        // A process that has exited (started and reaped here), and one that is alive (this test's parent).
        let exited = try ManagedProcess("/bin/true", [])
        _ = try exited.waitForExit(seconds: 10)
        let gone = exited.pid, alive = getppid()
        func write(_ name: String, _ text: String) throws {
            try text.write(toFile: "\(journal)/\(name)", atomically: true, encoding: .utf8)
        }
        let hex = { (path: String) in UploadLeftovers.hex(Array(path.utf8)) }
        try write("\(gone)-01", "\(Self.destination)\n\(hex("/srv/a/.ftptunnel-upload-01.b.bin"))\n")
        try write("\(alive)-02", "\(Self.destination)\n\(hex("/srv/a/.ftptunnel-upload-02.c.bin"))\n")
        try write("\(gone)-03", "bob@example.org:22\n\(hex("/srv/a/.ftptunnel-upload-03.d.bin"))\n")
        try write("\(gone)-04", "\(Self.destination)\n\(hex("/srv/a/index.html"))\n")
        try write("\(gone)-05", "\(Self.destination)\nzz\n")
        try write("not-a-pid", "\(Self.destination)\n\(hex("/srv/a/.ftptunnel-upload-06.e.bin"))\n")

        let swept = leftovers.journaledByGoneProcesses()
        #expect(swept.map { String(decoding: $0.temporary, as: UTF8.self) } == ["/srv/a/.ftptunnel-upload-01.b.bin"])
        #expect(swept.first?.file == "\(journal)/\(gone)-01")
        leftovers.finished(running)
        #expect(running.file.map { FileManager.default.fileExists(atPath: $0) } == false)
    }

    @Test func namesAndHexRoundTrip() {
        #expect(UploadLeftovers.isTemporaryName(Array("/x/.ftptunnel-upload-1f.name".utf8)))
        #expect(!UploadLeftovers.isTemporaryName(Array("/x/.ftptunnel-upload-1f/real.txt".utf8)))
        #expect(!UploadLeftovers.isTemporaryName(Array("/x/file".utf8)))
        let bytes: [UInt8] = [0x2f, 0xff, 0x00, 0x41]
        #expect(UploadLeftovers.unhex(Substring(UploadLeftovers.hex(bytes))) == bytes)
        #expect(UploadLeftovers.unhex("abc") == nil)
        #expect(UploadLeftovers.journalDirectory(["HOME": "/home/u"]) == "/home/u/.local/state/ftptunnel/bridge-uploads")
        #expect(UploadLeftovers.journalDirectory([:]) == nil)
    }
}
