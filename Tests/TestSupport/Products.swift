import Foundation

/// Paths of the package's own built executables (the directory the test bundle runs from).
public enum Products {
    public static var directory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        // swift test runs `<products>/<Package>PackageTests.xctest` (a file on Linux).
        if dir.hasSuffix(".xctest") { dir = (dir as NSString).deletingLastPathComponent }
        return dir
    }

    public static func path(_ name: String) throws -> String {
        let candidate = "\(directory)/\(name)"
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw MissingTool(name: "\(name) (expected at \(candidate); run `swift build` first)")
        }
        return candidate
    }

    public static var pasvd: String { get throws { try path("pasvd") } }
    public static var ftptunnel: String { get throws { try path("ftptunnel") } }
}
