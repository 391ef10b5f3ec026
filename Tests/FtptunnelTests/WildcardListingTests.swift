import Foundation
import Testing
import TestSupport

/// `mget b*` with inetutils `ftp` (it sends `NLST b*`), and patterns in NLST/LIST, against the real pasvd and the
/// SFTP bridge: the matching files arrive byte for byte, nothing else does, and a pattern matching nothing is a 550.
@Suite(.serialized) struct WildcardListingTests {
    /// Files every test serves: two that match `b*`, one that does not, a dot file and one in a subdirectory.
    static func populate(_ root: String) throws {
        try FileManager.default.createDirectory(atPath: "\(root)/d", withIntermediateDirectories: true)
        try TestFiles.random(at: "\(root)/b1.txt", size: 100_003, seed: 1)
        try TestFiles.random(at: "\(root)/b2.bin", size: 1 << 20, seed: 2)
        try TestFiles.random(at: "\(root)/a1.txt", size: 777, seed: 3)
        try TestFiles.random(at: "\(root)/.b-hidden", size: 10, seed: 4)
        try TestFiles.random(at: "\(root)/d/b3.txt", size: 4_321, seed: 5)
    }

    @Test func pasvdServesMgetWithAPattern() throws {
        let root = try TempDirectory("glob-root")
        try Self.populate(root.path)
        let pasvd = try PasvdFixture(root: root.path, extraArguments: ["--anonymous", "--pasv-address", LoopbackNet.serverSide])
        try expectPatternsWork(host: pasvd.host, port: pasvd.port, root: root.path)
    }

    @Test func theBridgeServesMgetWithAPattern() throws {
        let world = try SFTPBridgeWorld()
        try Self.populate(world.root)
        try expectPatternsWork(host: LoopbackNet.clientSide, port: world.bridge.localPort, root: world.root)
    }

    private func expectPatternsWork(host: String, port: Int, root: String) throws {
        let local = try TempDirectory("glob-local")
        _ = try local.makeDirectory("d")
        let mget = try FTPClients.inetutils(host: host, port: port, commands: ["mget b*", "mget d/b*"], directory: local.path)
        #expect(mget.status == 0, "\(mget.output)")
        for name in ["b1.txt", "b2.bin", "d/b3.txt"] {
            #expect(FileManager.default.fileExists(atPath: local.file(name)), "\(name) missing: \(mget.output)")
            #expect(try TestFiles.sha256(local.file(name)) == TestFiles.sha256("\(root)/\(name)"), "\(name)")
        }
        for name in ["a1.txt", ".b-hidden"] {
            #expect(!FileManager.default.fileExists(atPath: local.file(name)), "\(name) should not match b*")
        }

        let listings = try FTPClients.python(host: host, port: port, body: """
        print("BRACKET", sorted(ftp.nlst("[ab]1.txt")))
        print("QUESTION", sorted(ftp.nlst("d/b?.txt")))
        print("DOT", sorted(ftp.nlst(".b*")))
        lines = []
        ftp.retrlines("LIST b*", lines.append)
        print("LONG", len(lines), all(l.startswith("-") for l in lines))
        lines = []
        ftp.retrlines("LIST zz*", lines.append)
        print("EMPTYLIST", len(lines))
        try:
            ftp.nlst("zz*")
            print("NOMATCH none")
        except ftplib.error_perm as e:
            print("NOMATCH", str(e)[:3])
        try:
            ftp.nlst("../../*")
            print("ESCAPE", sorted(ftp.nlst("../../*")))
        except ftplib.error_perm as e:
            print("ESCAPE", str(e)[:3])
        """)
        #expect(listings.status == 0, "\(listings.output)")
        let out = listings.stdout
        #expect(out.contains("BRACKET ['a1.txt', 'b1.txt']"), "\(out)")
        #expect(out.contains("QUESTION ['d/b3.txt']"), "\(out)")
        #expect(out.contains("DOT ['.b-hidden']"), "\(out)")
        #expect(out.contains("LONG 2 True"), "\(out)")
        #expect(out.contains("EMPTYLIST 0"), "\(out)")
        #expect(out.contains("NOMATCH 550"), "\(out)")
        // `..` stops at the session's root: the pattern lists the root itself, never what lies above it.
        #expect(out.contains("ESCAPE ['../../a1.txt', '../../b1.txt', '../../b2.bin', '../../d']"), "\(out)")
    }
}
