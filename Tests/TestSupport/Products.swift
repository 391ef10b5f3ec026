import Foundation

/// Paths of the package's own built executables: those of the build configuration under test. `swift test` runs
/// the test bundle from its configuration's products directory (`.build/debug`, or `.build-release/release` for
/// `make test`'s release run), and the executables next to it are the ones built with the same configuration.
public enum Products {
    /// The configuration this test bundle was compiled in; the executables it drives must come from the same one.
    public static var configuration: String {
        #if DEBUG
        return "debug"
        #else
        return "release"
        #endif
    }

    public static var directory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = (exe as NSString).deletingLastPathComponent
        // swift test runs `<products>/<Package>PackageTests.xctest` (a file on Linux).
        if dir.hasSuffix(".xctest") { dir = (dir as NSString).deletingLastPathComponent }
        return dir
    }

    public static func path(_ name: String) throws -> String {
        let directory = Self.directory
        guard (directory as NSString).lastPathComponent == configuration else {
            throw MissingTool(name: "\(name) of the \(configuration) build (the tests run from \(directory), not a \(configuration) products directory)")
        }
        let candidate = "\(directory)/\(name)"
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw MissingTool(name: "\(name) (expected at \(candidate); run `swift build -c \(configuration)` with the tests' scratch path first)")
        }
        return candidate
    }

    public static var pasvd: String { get throws { try path("pasvd") } }
    public static var ftptunnel: String { get throws { try path("ftptunnel") } }
}
