import Foundation
import Testing
import TestSupport
@testable import pasvd
@testable import FTPServerKit

/// The path confinement type, exhaustively: lexical resolution, then the on-disk checks with symlinks.
@Suite struct VirtualPathTests {
    private func resolve(_ argument: String, from cwd: String = "/") throws -> String {
        let base = try VirtualPath.resolve(cwd, from: .root)
        return try VirtualPath.resolve(argument, from: base).description
    }

    @Test func relativeAndAbsolute() throws {
        #expect(try resolve("a/b") == "/a/b")
        #expect(try resolve("b", from: "/a") == "/a/b")
        #expect(try resolve("/x/y", from: "/a") == "/x/y")
        #expect(try resolve("", from: "/a") == "/a")
        #expect(try resolve(".", from: "/a") == "/a")
    }

    @Test func dotDotNeverClimbsAboveRoot() throws {
        #expect(try resolve("..") == "/")
        #expect(try resolve("../../../../etc/passwd") == "/etc/passwd")
        #expect(try resolve("../..", from: "/a/b/c") == "/a")
        #expect(try resolve("a/../../b/./c//d/") == "/b/c/d")
        #expect(try resolve("/../..") == "/")
        #expect(try resolve("..//..//x", from: "/a") == "/x")
    }

    @Test func nulBytesAndOverlongNamesAreRefused() {
        #expect(throws: PathError.nulByte) { try VirtualPath.resolve("a\0b", from: .root) }
        #expect(throws: PathError.nulByte) { try VirtualPath.resolve("\0", from: .root) }
        #expect(throws: PathError.tooLong) {
            try VirtualPath.resolve(String(repeating: "x", count: VirtualPath.maximumNameLength + 1), from: .root)
        }
        #expect(throws: PathError.tooLong) {
            try VirtualPath.resolve(String(repeating: "a/", count: 3000), from: .root)
        }
    }

    @Test func componentsNeverContainSeparatorsOrDots() throws {
        let samples = ["a/./b", "../a/..", "///", "a/b/../../..", "...", "a..b/..c", "./.hidden"]
        for sample in samples {
            let path = try VirtualPath.resolve(sample, from: try VirtualPath.resolve("/x/y", from: .root))
            #expect(path.components.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." && !$0.contains("/") })
        }
        #expect(try resolve("...") == "/...")
    }
}

@Suite struct ConfinedRootTests {
    /// root/ with a file, a subdirectory, an inside symlink, escaping symlinks, and a sibling outside.
    private func makeTree() throws -> (TempDirectory, ConfinedRoot, String) {
        let temp = try TempDirectory("confine")
        let root = try temp.makeDirectory("root")
        try temp.write("root/file.txt", "inside")
        try temp.write("root/sub/deep.txt", "deep")
        try temp.write("outside/secret.txt", "secret")
        symlink("/etc", "\(root)/etc")
        symlink("../outside", "\(root)/sibling")
        symlink("sub", "\(root)/inner")
        symlink("/etc/passwd", "\(root)/sub/passwd")
        symlink("missing", "\(root)/dangling")
        symlink("/sub/deep.txt", "\(root)/absolute")
        try temp.write("root/.pasvd-upload.1234", "partial")
        return (temp, try ConfinedRoot(path: root), root)
    }

    private func path(_ text: String) throws -> VirtualPath { try VirtualPath.resolve(text, from: .root) }

    private func content(_ root: ConfinedRoot, _ text: String) throws -> String {
        let file = try root.open(try path(text), flags: O_RDONLY)
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = read(file.fd, &buffer, buffer.count)
        return String(decoding: buffer[0..<max(n, 0)], as: UTF8.self)
    }

    @Test func existingInsideResolves() throws {
        let (tree, root, _) = try makeTree()
        defer { withExtendedLifetime(tree) {} }
        #expect(try content(root, "/file.txt") == "inside")
        #expect(try root.facts(path("/")).kind == .directory)
        #expect(try content(root, "inner/deep.txt") == "deep")
        // Absolute symlinks resolve relative to the root, as after chroot.
        #expect(try content(root, "absolute") == "deep")
    }

    @Test func symlinksOutsideAreRefused() throws {
        let (tree, root, _) = try makeTree()
        defer { withExtendedLifetime(tree) {} }
        for escape in ["/etc", "/etc/passwd", "sibling/secret.txt", "sub/passwd", "inner/passwd", "sibling"] {
            #expect(throws: PathError.self, "\(escape)") { try root.facts(path(escape)) }
            #expect(throws: PathError.self, "\(escape)") { try root.open(path(escape), flags: O_RDONLY) }
        }
        #expect(throws: PathError.self) { try root.entry(path("/etc/newfile")) }
        #expect(throws: PathError.self) { try root.entry(path("sibling/newfile")) }
    }

    @Test func missingAndDanglingAreNotFound() throws {
        let (tree, root, _) = try makeTree()
        defer { withExtendedLifetime(tree) {} }
        #expect(throws: PathError.notFound("/nope")) { try root.facts(path("nope")) }
        #expect(throws: PathError.notFound("/dangling")) { try root.facts(path("dangling")) }
    }

    @Test func entriesNeedAnExistingParentInside() throws {
        let (tree, root, host) = try makeTree()
        defer { withExtendedLifetime(tree) {} }
        let entry = try root.entry(path("sub/new.txt"))
        #expect(entry.name == "new.txt" && entry.path.description == "/sub/new.txt")
        try entry.makeDirectory()
        #expect(fileExists("\(host)/sub/new.txt"))
        // The last component is not followed: deleting the escaping link removes the link only.
        let link = try root.entry(path("etc"))
        #expect(try link.status().map { $0.st_mode & S_IFMT } == S_IFLNK)
        try link.remove(directory: false)
        #expect(fileExists("/etc/passwd") && (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(host)/etc")) == nil)
        #expect(throws: PathError.isRoot) { try root.entry(path("/")) }
        #expect(throws: PathError.self) { try root.entry(path("missing/child")) }
    }

    @Test func temporaryUploadNamesAreInvisible() throws {
        let (tree, root, _) = try makeTree()
        defer { withExtendedLifetime(tree) {} }
        #expect(throws: PathError.hiddenName("/.pasvd-upload.1234")) { try root.facts(path(".pasvd-upload.1234")) }
        #expect(throws: PathError.self) { try root.entry(path(".pasvd-upload.x")) }
        let names = try root.listing(.root).map(\.name)
        #expect(!names.contains(".pasvd-upload.1234"))
        #expect(!names.contains("etc") && !names.contains("dangling") && !names.contains("sibling"))
        #expect(names.contains("file.txt") && names.contains("inner") && names.contains("absolute"))
    }

    @Test func containmentIsByDescriptorNotPrefix() throws {
        let temp = try TempDirectory("confine")
        defer { withExtendedLifetime(temp) {} }
        let data = try temp.makeDirectory("data")
        try temp.write("data2/x", "neighbour")
        symlink("../data2/x", "\(data)/x")
        let root = try ConfinedRoot(path: data)
        #expect(throws: PathError.self) { try root.facts(path("x")) }
        #expect(throws: PathError.self) { try root.facts(path("../data2/x")) }
    }
}
