import Foundation
import Glibc
import Posix
import Testing
import TestSupport

/// The small Posix wrappers the rest of the code calls instead of libc, on real descriptors, files and sockets.
@Suite struct PosixWrapperTests {
    /// (Other suites open and close descriptors in parallel in this process: only what this test holds is certain.)
    @Test func openDescriptorsListsTheOnesHeld() throws {
        let (readEnd, writeEnd) = try PosixProcess.pipe()
        defer { PosixDescriptor.close([readEnd, writeEnd]) }
        let open = PosixDescriptor.openDescriptors()
        #expect(open.contains(readEnd) && open.contains(writeEnd))
        #expect([0, 1, 2].allSatisfy(open.contains))
        #expect(Set(open).count == open.count)
    }

    @Test func resolverReturnsLiteralsAndLocalhost() throws {
        #expect(try PosixHost.addresses(of: "127.0.0.1", port: 2121) == [SocketAddress(host: "127.0.0.1", port: 2121)!])
        #expect(try PosixHost.addresses(of: "::1", port: 22) == [SocketAddress(host: "::1", port: 22)!])
        #expect(try PosixHost.addresses(of: "localhost", port: 22).contains(SocketAddress(host: "127.0.0.1", port: 22)!))
        #expect(PosixHost.name().map { !$0.isEmpty } == true)
    }

    @Test(arguments: [("127.0.0.1", true), ("::1", true), ("fe80::1", true), ("[::1]", false), ("localhost", false),
                      ("1.2.3", false), ("", false), ("127.0.0.1:21", false)])
    func numericHosts(host: String, numeric: Bool) {
        #expect(SocketAddress.isNumeric(host) == numeric)
    }

    @Test func fileReadEndsWithZeroAndGlobMatches() throws {
        let directory = try TempDirectory("posix-wrappers")
        let bytes = (0..<5000).map { UInt8(truncatingIfNeeded: $0) }
        try Data(bytes).write(to: URL(fileURLWithPath: directory.file("b.conf")))
        try Data().write(to: URL(fileURLWithPath: directory.file("a.conf")))
        try Data().write(to: URL(fileURLWithPath: directory.file("c.txt")))
        let fd = try PosixFile.open(directory.file("b.conf"), flags: O_RDONLY)
        defer { PosixDescriptor.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        var read: [UInt8] = []
        while true {
            let n = try buffer.withUnsafeMutableBytes { raw throws(PosixError) in try PosixFile.read(fd, into: raw) }
            if n == 0 { break }
            read += buffer.prefix(n)
        }
        #expect(read == bytes)
        #expect(PosixFile.glob(directory.file("*.conf")) == [directory.file("a.conf"), directory.file("b.conf")])
        #expect(PosixFile.glob(directory.file("*.none")).isEmpty)
    }

    @Test func socketQueriesOnAStreamPair() throws {
        let (ours, theirs) = try PosixProcess.streamPair()
        defer { PosixDescriptor.close([ours, theirs]) }
        var buffer = [UInt8](repeating: 0, count: 16)
        #expect(buffer.withUnsafeMutableBytes { PosixSocket.receiveForCallback(ours, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                == -Int(EAGAIN))
        try PosixFile.writeAll(theirs, Array("hello".utf8))
        #expect(PosixSocket.unreadBytes(ours) == 5)
        #expect(PosixSocket.millisecondsSincePeerData(ours) == nil)  // TCP_INFO: not a TCP socket
        PosixSocket.shutdownWrite(theirs)
        #expect(buffer.withUnsafeMutableBytes { PosixSocket.receiveForCallback(ours, $0.baseAddress, $0.count, 0) } == 5)
        #expect(buffer.withUnsafeMutableBytes { PosixSocket.receiveForCallback(ours, $0.baseAddress, $0.count, 0) } == 0)
    }

    @Test func errnoIsReadAtOnce() {
        #expect(Glibc.close(-1) == -1)
        #expect(PosixError.lastCode() == EBADF)
        #expect(PosixError.reason(for: ENOENT) == "No such file or directory")
    }

    @Test func identityOfThisProcess() throws {
        #expect(PosixIdentity.userID == getuid())
        #expect(PosixIdentity.groupID == getgid())
        #expect(PosixProcess.currentID == getpid())
        let entry = try #require(PosixIdentity.currentUserEntry())
        #expect(PosixIdentity.homeDirectory(ofUser: entry.name) == entry.home)
        #expect(PosixIdentity.homeDirectory(ofUser: "no-such-user-\(UInt32.random(in: 0...UInt32.max))") == nil)
    }

    @Test func pauseLastsAtLeastItsLength() {
        let start = PosixClock.monotonicSeconds()
        PosixClock.pause(seconds: 0.05)
        #expect(PosixClock.monotonicSeconds() - start >= 0.05)
        PosixClock.pause(seconds: 0)
    }
}
