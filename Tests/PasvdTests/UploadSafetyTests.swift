import Foundation
import Testing
import TestSupport

/// An interrupted upload never damages the previous file and never leaves its temporary file behind.
@Suite struct UploadSafetyTests {
    static let originalSize = 1 << 20
    static let partialSize = 256 << 10

    private func scenario() throws -> (PasvdScenario, String) {
        let s = try PasvdScenario()
        try TestFiles.random(at: s.path("keep.bin"), size: Self.originalSize, seed: 99)
        return (s, try TestFiles.sha256(s.path("keep.bin")))
    }

    /// Starts `verb keep.bin` over a fresh passive connection and sends part of a new content.
    private func startUpload(_ s: PasvdScenario, _ control: RawFTPControl, verb: String = "STOR") throws -> Int32 {
        let data = try s.openData(control)
        let reply = control.command("\(verb) keep.bin") ?? ""
        try #require(reply.hasPrefix("150"), "\(verb): \(reply)")
        let chunk = [UInt8](repeating: 0x5A, count: Self.partialSize)
        _ = chunk.withUnsafeBytes { write(data, $0.baseAddress, $0.count) }
        try Deadline.wait(for: "partial upload on disk") { partialUploadSeen(s, verb: verb) }
        return data
    }

    /// STOR writes an unnamed (O_TMPFILE) file that pasvd holds open; APPE grows the target in place.
    private func partialUploadSeen(_ s: PasvdScenario, verb: String, atLeast: Int = UploadSafetyTests.partialSize) -> Bool {
        if verb == "APPE" { return TestFiles.size(s.path("keep.bin")) >= Self.originalSize + atLeast }
        return ProcessFiles.unnamedFileSizes(s.server.process.pid).contains { $0 >= atLeast }
    }

    private func expectIntact(_ s: PasvdScenario, _ hash: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        try Deadline.wait(for: "partial upload dropped") {
            ProcessFiles.unnamedFileSizes(s.server.process.pid).isEmpty && TestFiles.size(s.path("keep.bin")) == Self.originalSize
        }
        #expect(try TestFiles.sha256(s.path("keep.bin")) == hash, sourceLocation: sourceLocation)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.root) == ["keep.bin"], sourceLocation: sourceLocation)
    }

    @Test(arguments: ["STOR", "APPE"])
    func abortKeepsTheOriginal(_ verb: String) throws {
        let (s, hash) = try scenario()
        let control = try s.control(login: .anonymous)
        if verb == "STOR" { _ = control.command("REST 1000") }
        let data = try startUpload(s, control, verb: verb)
        defer { close(data) }
        let first = control.command("ABOR") ?? ""
        let second = control.readReply() ?? ""
        #expect(first.hasPrefix("426") && second.hasPrefix("226"), "\(first) / \(second)")
        try expectIntact(s, hash)
        #expect(control.command("NOOP")?.hasPrefix("200") == true)
    }

    @Test func droppedControlConnectionKeepsTheOriginal() throws {
        let (s, hash) = try scenario()
        let control = try s.control(login: .anonymous)
        let data = try startUpload(s, control)
        shutdown(control.fd, Int32(SHUT_RDWR))
        close(data)
        try expectIntact(s, hash)
    }

    @Test func resetDataConnectionKeepsTheOriginal() throws {
        let (s, hash) = try scenario()
        let control = try s.control(login: .anonymous)
        let data = try startUpload(s, control)
        var reset = linger(l_onoff: 1, l_linger: 0)
        setsockopt(data, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
        close(data)
        #expect(control.readReply()?.hasPrefix("426") == true)
        try expectIntact(s, hash)
    }

    @Test func killedCurlKeepsTheOriginal() throws {
        let (s, hash) = try scenario()
        let work = try TempDirectory("killed")
        try TestFiles.random(at: work.file("big.bin"), size: 64 << 20)
        let curl = try ManagedProcess(try which("curl"), ["-sS", "--limit-rate", "2M", "-T", work.file("big.bin"),
                                                          s.url(.anonymous, "keep.bin")])
        try Deadline.wait(for: "curl upload in progress") { partialUploadSeen(s, verb: "STOR", atLeast: 1) }
        curl.killTree()
        try expectIntact(s, hash)
    }

    /// O_TMPFILE uploads have no name until they complete: a killed server leaves nothing behind.
    @Test func killedServerLeavesNoResidue() throws {
        let (s, hash) = try scenario()
        let work = try TempDirectory("killed-server")
        try TestFiles.random(at: work.file("big.bin"), size: 64 << 20)
        let curl = try ManagedProcess(try which("curl"), ["-sS", "--limit-rate", "2M", "-T", work.file("big.bin"),
                                                          s.url(.anonymous, "keep.bin")])
        try Deadline.wait(for: "upload in progress") { partialUploadSeen(s, verb: "STOR", atLeast: 1) }
        s.server.process.killTree()
        _ = try curl.waitForExit(seconds: 30)
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.root) == ["keep.bin"])
        #expect(try TestFiles.sha256(s.path("keep.bin")) == hash)
    }

    @Test func completedUploadReplacesAtomicallyWithMode0644() throws {
        let (s, _) = try scenario()
        let work = try TempDirectory("complete")
        try TestFiles.random(at: work.file("new.bin"), size: 5 << 20 + 1)
        expectSuccess(try FTPClients.curl(["-T", work.file("new.bin"), s.url(.anonymous, "keep.bin")]), "upload")
        try expectSameBytes(work.file("new.bin"), s.path("keep.bin"))
        let attributes = try FileManager.default.attributesOfItem(atPath: s.path("keep.bin"))
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o644)
        #expect(temporaryUploads(in: s.root).isEmpty)
    }
}
