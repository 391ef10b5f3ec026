import Foundation
import Testing
import TestSupport

/// Both ends hashed with SHA-256: the only acceptable proof of a transfer.
func expectSameBytes(_ a: String, _ b: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let left = try TestFiles.sha256(a), right = try TestFiles.sha256(b)
    #expect(left == right, "\(a) and \(b) differ", sourceLocation: sourceLocation)
}

/// Writes the first `count` bytes of `source` to `destination`.
func writePrefix(of source: String, count: Int, to destination: String) throws {
    let handle = try #require(FileHandle(forReadingAtPath: source))
    defer { try? handle.close() }
    let data = try handle.read(upToCount: count) ?? Data()
    try data.write(to: URL(fileURLWithPath: destination))
}

func fileExists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

/// Names of the in-flight upload files in `directory` (there must be none once a transfer ended).
func temporaryUploads(in directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasPrefix(".pasvd-upload.") }
}

func expectSuccess(_ result: CommandResult, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(result.status == 0, "\(what) failed (\(result.status)): \(result.output)", sourceLocation: sourceLocation)
}
