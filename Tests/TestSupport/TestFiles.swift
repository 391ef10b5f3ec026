import Foundation
import TunnelCore

/// Test payloads: random bytes of a given size, hashed with SHA-256 for byte-exact comparison.
public enum TestFiles {
    /// Writes `size` pseudo-random bytes to `path` (fast: a seeded generator, 1 MiB at a time).
    public static func random(at path: String, size: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil),
               let handle = FileHandle(forWritingAtPath: path) else { throw POSIXError(.EACCES) }
        defer { try? handle.close() }
        var state = seed ^ UInt64(size)
        var remaining = size
        var chunk = [UInt64](repeating: 0, count: 1 << 17)
        while remaining > 0 {
            for i in chunk.indices {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                chunk[i] = z ^ (z >> 31)
            }
            let bytes = min(remaining, chunk.count * 8)
            chunk.withUnsafeBytes { handle.write(Data($0.prefix(bytes))) }
            remaining -= bytes
        }
    }

    public static func sha256(_ path: String) throws -> String { try Digest.sha256Hex(ofFileAt: path) }

    public static func size(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? -1
    }
}
