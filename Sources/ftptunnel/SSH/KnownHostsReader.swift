import Foundation
import TunnelCore

/// Reads known_hosts files for the host-key check: bounded, as bytes; a missing file is an empty one, a file that
/// exists but cannot be read whole is an error (a check against part of a file could miss the recorded key).
enum KnownHostsReader {
    static func load(_ path: String) throws(KnownHostsError) -> KnownHostsFile {
        KnownHostsFile(path: path, bytes: try bytes(of: path))
    }

    /// The file's bytes, at most `KnownHostsFile.maximumFileBytes`; empty for a missing file.
    static func bytes(of path: String) throws(KnownHostsError) -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        guard !isDirectory.boolValue else { throw .unreadable(file: path, reason: "it is a directory") }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw .unreadable(file: path, reason: FileManager.default.isReadableFile(atPath: path) ? "it cannot be opened" : "permission denied")
        }
        defer { try? handle.close() }
        let data: Data?
        do { data = try handle.read(upToCount: KnownHostsFile.maximumFileBytes + 1) } catch {
            throw .unreadable(file: path, reason: "\((error as NSError).localizedDescription)")
        }
        let bytes = Array(data ?? Data())
        guard bytes.count <= KnownHostsFile.maximumFileBytes else { throw .tooLarge(file: path, bytes: bytes.count) }
        return bytes
    }
}
