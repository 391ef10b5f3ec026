import Foundation

/// Polls one path with lstat(2) as fast as it can (a Python process on this machine, where the test servers' files
/// are) until `finish()`: how often the name was looked at, and how often it was missing. Shows whether a replace
/// ever leaves the name without a file.
public final class NameWatcher {
    private let process: ManagedProcess
    private let stopFile: String

    public init(_ path: String, in work: TempDirectory) throws {
        stopFile = work.file("name-watcher.stop.\(UUID().uuidString)")
        process = try ManagedProcess("/usr/bin/python3", ["-c", """
            import os, sys
            target, stop = sys.argv[1], sys.argv[2]
            looks = missing = 0
            print("watching", flush=True)
            while not os.path.exists(stop):
                looks += 1
                try:
                    os.lstat(target)
                except FileNotFoundError:
                    missing += 1
            print("looks", looks, "missing", missing, flush=True)
            """, path, stopFile])
        try process.waitForOutput(containing: "watching")
    }

    deinit { process.stop() }

    /// Stops the watcher and returns its counts (nil when it reported none).
    public func finish() throws -> (looks: Int, missing: Int)? {
        _ = FileManager.default.createFile(atPath: stopFile, contents: nil)
        _ = try process.waitForExit(seconds: 30)
        let words = process.stdout.split(whereSeparator: \.isWhitespace)
        guard let at = words.firstIndex(of: "looks"), words.count > at + 3,
              let looks = Int(words[at + 1]), let missing = Int(words[at + 3]) else { return nil }
        return (looks, missing)
    }
}
