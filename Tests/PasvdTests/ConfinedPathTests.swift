import Foundation
import Testing
import TestSupport
@testable import pasvd

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

@Suite struct SessionRootTests {
    /// root/ with a file, a subdirectory, an inside symlink, escaping symlinks, and a sibling outside.
    private func makeTree() throws -> (TempDirectory, SessionRoot, String) {
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
        try temp.write("root/.pasvd-upload.1234", "partial")
        return (temp, try SessionRoot(path: root), root)
    }

    private func path(_ text: String) throws -> VirtualPath { try VirtualPath.resolve(text, from: .root) }

    @Test func existingInsideResolves() throws {
        let (tree, root, host) = try makeTree()
        defer { withExtendedLifetime(tree) {} }
        let real = SessionRoot.canonical(host)!
        #expect(try root.existing(path("/file.txt")).path == "\(real)/file.txt")
        #expect(try root.existing(path("/")).path == real)
        #expect(try root.existing(path("inner/deep.txt")).path == "\(real)/sub/deep.txt")
    }

    @Test func symlinksOutsideAreRefused() throws {
        let (tree, root, _) = try makeTree()
        defer { withExtendedLifetime(tree) {} }
        for escape in ["/etc", "/etc/passwd", "sibling/secret.txt", "sub/passwd", "inner/passwd", "sibling"] {
            #expect(throws: PathError.self, "\(escape)") { try root.existing(path(escape)) }
        }
        #expect(throws: PathError.self) { try root.entry(path("/etc/newfile")) }
        #expect(throws: PathError.self) { try root.entry(path("sibling/newfile")) }
    }

    @Test func missingAndDanglingAreNotFound() throws {
        let (tree, root, _) = try makeTree()
        defer { withExtendedLifetime(tree) {} }
        #expect(throws: PathError.notFound("/nope")) { try root.existing(path("nope")) }
        #expect(throws: PathError.notFound("/dangling")) { try root.existing(path("dangling")) }
    }

    @Test func entriesNeedAnExistingParentInside() throws {
        let (tree, root, host) = try makeTree()
        defer { withExtendedLifetime(tree) {} }
        let real = SessionRoot.canonical(host)!
        let entry = try root.entry(path("sub/new.txt"))
        #expect(entry.path == "\(real)/sub/new.txt")
        #expect(entry.name == "new.txt")
        // The last component is not followed: deleting the escaping link removes the link only.
        #expect(try root.entry(path("etc")).path == "\(real)/etc")
        #expect(throws: PathError.isRoot) { try root.entry(path("/")) }
        #expect(throws: PathError.self) { try root.entry(path("missing/child")) }
    }

    @Test func temporaryUploadNamesAreInvisible() throws {
        let (tree, root, _) = try makeTree()
        defer { withExtendedLifetime(tree) {} }
        #expect(throws: PathError.hiddenName("/.pasvd-upload.1234")) { try root.existing(path(".pasvd-upload.1234")) }
        #expect(throws: PathError.self) { try root.entry(path(".pasvd-upload.x")) }
        let top = try root.existing(.root)
        #expect(root.listed(".pasvd-upload.1234", in: top) == nil)
        #expect(root.listed("etc", in: top) == nil)
        #expect(root.listed("dangling", in: top) == nil)
        #expect(root.listed("file.txt", in: top) != nil)
        #expect(root.listed("inner", in: top) != nil)
    }

    @Test func containmentIsByComponentNotPrefix() throws {
        let temp = try TempDirectory("confine")
        defer { withExtendedLifetime(temp) {} }
        let root = try SessionRoot(path: try temp.makeDirectory("data"))
        _ = try temp.makeDirectory("data2")
        #expect(root.contains(root.hostRoot))
        #expect(root.contains(root.hostRoot + "/x"))
        #expect(!root.contains(root.hostRoot + "2"))
        #expect(!root.contains(root.hostRoot + "2/x"))
        #expect(!root.contains("/"))
    }
}
