import Glibc
import Posix
import Testing

/// The kernel socket table parser: rows of /proc/net/tcp and tcp6 as the kernel prints them.
@Suite struct SocketTableTests {
    static let ipv4 = """
          sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 0100007F:0835 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
           1: 0100007F:A1B2 0100007F:0835 01 00000000:00000000 00:00000000 00000000 65534        0 41414 1 0000000000000000 20 4 30 10 -1
           2: 0100007F:0835 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 41415 1 0000000000000000 20 4 30 10 -1
           3: garbage line
        """
    static let ipv6 = """
          sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 00000000000000000000000001000000:C350 00000000000000000000000001000000:0835 01 00000000:00000000 00:00000000 00000000  1000        0 5151 1 0000000000000000 20 4 0 10 -1
        """

    @Test func findsTheConnectingSocketsOwner() throws {
        let rows = SocketTable.parse(Self.ipv4)
        #expect(rows.count == 3)
        let peer = try #require(SocketAddress(host: "127.0.0.1", port: 0xA1B2))
        let server = try #require(SocketAddress(host: "127.0.0.1", port: 0x0835))
        // Our own accepted socket (local = server) has uid 0; the client's row (local = peer) has 65534.
        #expect(SocketTable.owner(in: rows, of: peer, connectedTo: server) == 65534)
        #expect(SocketTable.owner(in: rows, of: server, connectedTo: peer) == 0)
    }

    @Test func readsIPv6Words() throws {
        let rows = SocketTable.parse(Self.ipv6)
        let peer = try #require(SocketAddress(host: "::1", port: 50000))
        let server = try #require(SocketAddress(host: "::1", port: 0x0835))
        #expect(SocketTable.owner(in: rows, of: peer, connectedTo: server) == 1000)
    }

    @Test func unknownConnectionsHaveNoOwner() throws {
        let rows = SocketTable.parse(Self.ipv4)
        let stranger = try #require(SocketAddress(host: "127.0.0.1", port: 9))
        let server = try #require(SocketAddress(host: "127.0.0.1", port: 0x0835))
        #expect(SocketTable.owner(in: rows, of: stranger, connectedTo: server) == nil)
        #expect(SocketTable.parse("").isEmpty)
    }

    /// Every prefix of the table parses without trapping (a row cut anywhere is dropped or read whole).
    @Test func truncatedTablesNeverTrap() {
        let text = Self.ipv4 + "\n" + Self.ipv6
        for end in 0...text.utf8.count {
            let prefix = String(decoding: Array(text.utf8)[0..<end], as: UTF8.self)
            #expect(SocketTable.parse(prefix).count <= 4)
        }
    }

    @Test func theLiveTableKnowsThisProcessesListener() throws {
        let address = try #require(SocketAddress(host: "127.0.0.1", port: 0))
        let listener = try PosixSocket.bound(to: address, nonBlocking: false)
        defer { close(listener) }
        try PosixSocket.listen(listener, on: address)
        let bound = try #require(PosixSocket.localAddress(listener))
        let client = try PosixSocket.connect(to: bound, milliseconds: 2000, nonBlocking: false)
        defer { close(client) }
        let local = try #require(PosixSocket.localAddress(client))
        #expect(SocketTable.owner(of: local, connectedTo: bound) == getuid())
    }
}
