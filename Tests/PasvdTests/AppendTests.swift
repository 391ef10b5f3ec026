import Foundation
import Testing
import TestSupport

/// APPE appends in place under an exclusive lock: concurrent appends all stay, a small append to a big file is
/// cheap, and an aborted append leaves the old content (see UploadSafetyTests.abortKeepsTheOriginal).
@Suite struct AppendTests {
    static let clients = 8
    static let chunkSize = 100_000

    @Test func concurrentAppendsKeepEveryChunk() throws {
        let s = try PasvdScenario()
        let work = try TempDirectory("appe")
        var expected: Set<String> = []
        for index in 0..<Self.clients {
            try TestFiles.random(at: work.file("chunk\(index)"), size: Self.chunkSize, seed: UInt64(index + 1))
            expected.insert(try TestFiles.sha256(work.file("chunk\(index)")))
        }
        let uploads = try (0..<Self.clients).map { index in
            try ManagedProcess(try which("curl"), ["-sS", "--max-time", "60", "--append", "-T", work.file("chunk\(index)"),
                                                   s.url(.anonymous, "log.bin")])
        }
        for upload in uploads { #expect(try upload.waitForExit(seconds: 90) == 0, "\(upload.output)") }
        let content = try #require(FileManager.default.contents(atPath: s.path("log.bin")))
        #expect(content.count == Self.clients * Self.chunkSize)
        var found: Set<String> = []
        for index in 0..<(content.count / Self.chunkSize) {
            let slice = content.subdata(in: index * Self.chunkSize..<(index + 1) * Self.chunkSize)
            try slice.write(to: URL(fileURLWithPath: work.file("slice")))
            found.insert(try TestFiles.sha256(work.file("slice")))
        }
        #expect(found == expected, "\(found.count) of \(Self.clients) chunks intact")
    }

    @Test func smallAppendToALargeFileIsCheap() throws {
        let s = try PasvdScenario()
        let big = s.path("big.bin")
        try TestFiles.random(at: big, size: 4096, seed: 5)
        let head = try TestFiles.sha256(big)
        #expect(truncate(big, 300 << 20) == 0)  // sparse beyond the first 4 KiB
        let body = """
        import io, time
        start = time.monotonic()
        ftp.storbinary('APPE big.bin', io.BytesIO(b'0123456789'))
        print('seconds %.3f' % (time.monotonic() - start))
        """
        let result = try FTPClients.python(host: s.host, port: s.port, body: body)
        expectSuccess(result, "APPE")
        let seconds = Double(result.stdout.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 99
        print("APPE of 10 bytes to a 300 MiB file: \(seconds) s")
        #expect(seconds < 2, "\(result.output)")
        #expect(TestFiles.size(big) == (300 << 20) + 10)
        let handle = try #require(FileHandle(forReadingAtPath: big))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(300 << 20))
        #expect(try handle.readToEnd() == Data("0123456789".utf8))
        try writePrefix(of: big, count: 4096, to: s.directory.file("head"))
        #expect(try TestFiles.sha256(s.directory.file("head")) == head)
    }

    @Test func appendToAMissingFileCreatesItAndAnAbortedOneLeavesNothing() throws {
        let s = try PasvdScenario()
        let control = try s.control(login: .anonymous)
        let data = try s.openData(control)
        #expect(control.command("APPE fresh.bin")?.hasPrefix("150") == true)
        _ = "partial".withCString { write(data, $0, 7) }
        try Deadline.wait(for: "append in progress") { TestFiles.size(s.path("fresh.bin")) == 7 }
        let first = control.command("ABOR") ?? "", second = control.readReply() ?? ""
        close(data)
        #expect(first.hasPrefix("426") && second.hasPrefix("226"), "\(first) / \(second)")
        try Deadline.wait(for: "aborted append removed") { !fileExists(s.path("fresh.bin")) }
        let work = try TempDirectory("appe-new")
        try TestFiles.random(at: work.file("new"), size: 12_345)
        expectSuccess(try FTPClients.curl(["--append", "-T", work.file("new"), s.url(.anonymous, "fresh.bin")]), "APPE new")
        try expectSameBytes(work.file("new"), s.path("fresh.bin"))
    }
}
