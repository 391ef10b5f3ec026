import Glibc
import Posix
import Testing

@Suite struct SocketAddressTests {
    @Test(arguments: [("127.0.0.1", 21, "127.0.0.1:21"), ("::1", 2121, "[::1]:2121"), ("[::1]", 0, "[::1]:0"),
                      ("10.1.2.3", 65535, "10.1.2.3:65535"), ("fe80::1", 40000, "[fe80::1]:40000")])
    func parsesAndDescribes(host: String, port: Int, shown: String) throws {
        let address = try #require(SocketAddress(host: host, port: port))
        #expect(address.description == shown)
        #expect(address.port == port)
        #expect(SocketAddress(host: address.host, port: port) == address)
    }

    @Test(arguments: ["localhost", "", "1.2.3", "::g", "127.0.0.1:21", "[::1"])
    func refusesNames(host: String) {
        #expect(SocketAddress(host: host, port: 21) == nil)
    }

    @Test func refusesPortsOutOfRange() {
        #expect(SocketAddress(host: "127.0.0.1", port: 65536) == nil)
        #expect(SocketAddress(host: "127.0.0.1", port: -1) == nil)
    }

    @Test func sockaddrCarriesTheFamilyAndPort() throws {
        for (host, family) in [("127.0.0.1", AF_INET), ("::1", AF_INET6)] {
            let address = try #require(SocketAddress(host: host, port: 4321))
            let (seen, length) = address.withSockaddr { pointer, length in (Int32(pointer.pointee.sa_family), length) }
            #expect(seen == family)
            #expect(length == address.length)
        }
    }

    @Test func loopbackAndWildcard() throws {
        #expect(try #require(SocketAddress(host: "127.9.9.9", port: 1)).isLoopback)
        #expect(try #require(SocketAddress(host: "::1", port: 1)).isLoopback)
        #expect(try #require(SocketAddress(host: "::ffff:127.0.0.2", port: 1)).isLoopback)
        #expect(try !#require(SocketAddress(host: "128.0.0.1", port: 1)).isLoopback)
        #expect(try !#require(SocketAddress(host: "::2", port: 1)).isLoopback)
        #expect(try #require(SocketAddress(host: "0.0.0.0", port: 1)).isWildcard)
        #expect(try #require(SocketAddress(host: "::", port: 1)).isWildcard)
    }

    /// The bind that broke in optimised builds: an IPv6 listener must really be AF_INET6 on ::1.
    @Test func bindsAndReadsBackIPv4AndIPv6() throws {
        for host in ["127.0.0.1", "::1"] {
            let requested = try #require(SocketAddress(host: host, port: 0))
            let fd = try PosixSocket.bound(to: requested, nonBlocking: true)
            defer { close(fd) }
            let local = try #require(PosixSocket.localAddress(fd))
            #expect(local.family == requested.family)
            #expect(local.host == host)
            #expect(local.port > 0)
        }
    }
}
