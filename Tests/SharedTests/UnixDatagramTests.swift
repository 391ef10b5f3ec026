import Foundation
import Glibc
import Posix
import Testing
import TestSupport

/// AF_UNIX addresses as `$NOTIFY_SOCKET` spells them, and datagrams over real sockets, file-system and abstract.
@Suite struct UnixDatagramTests {
    @Test(arguments: ["relative/path", "", "@", "/with\u{0}nul", "/" + String(repeating: "x", count: 107),
                      "@" + String(repeating: "x", count: 108)])
    func refusesUnusableAddresses(text: String) {
        #expect(UnixSocketAddress(text) == nil)
    }

    @Test func lengthsFollowTheKernelRules() throws {
        let offset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)!
        let path = try #require(UnixSocketAddress("/run/notify"))
        #expect(!path.isAbstract)
        #expect(path.withSockaddr { $1 } == socklen_t(offset + "/run/notify".utf8.count + 1))
        let abstract = try #require(UnixSocketAddress("@name"))
        #expect(abstract.isAbstract)
        let (first, length) = abstract.withSockaddr { pointer, length in
            pointer.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { ($0.pointee.sun_path.0, length) }
        }
        #expect(first == 0)
        #expect(length == socklen_t(offset + "@name".utf8.count))  // NUL + "name", no terminator
        #expect(UnixSocketAddress("/" + String(repeating: "x", count: 106)) != nil)
        #expect(UnixSocketAddress("@" + String(repeating: "x", count: 107)) != nil)
    }

    @Test(arguments: [false, true])
    func datagramArrivesWhole(abstract: Bool) throws {
        let directory = try TempDirectory("unix-dgram")
        let text = abstract ? "@ftptunnel-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" : directory.file("notify.sock")
        let address = try #require(UnixSocketAddress(text))
        let receiver = try UnixDatagram.bound(to: address)
        defer { close(receiver) }
        #expect(fcntl(receiver, F_GETFD) & FD_CLOEXEC != 0)
        #expect(abstract || FileManager.default.fileExists(atPath: text))

        let sender = try UnixDatagram.socket()
        defer { close(sender) }
        let message = Array("READY=1\nSTATUS=ready: ftp://127.0.0.1:2121".utf8)
        try UnixDatagram.send(sender, message, to: address)
        let received = try Deadline.value(of: "the datagram") { () -> [UInt8]? in
            if case .done(let bytes) = try UnixDatagram.receive(receiver) { return bytes }
            return nil
        }
        #expect(received == message)
        #expect(try UnixDatagram.receive(receiver) == .wouldBlock)
    }

    @Test func sendingToNobodyIsAnErrorNotASignal() throws {
        let sender = try UnixDatagram.socket()
        defer { close(sender) }
        let nobody = try #require(UnixSocketAddress("@ftptunnel-nobody-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"))
        #expect(throws: PosixError.self) { try UnixDatagram.send(sender, Array("READY=1".utf8), to: nobody) }
    }
}
