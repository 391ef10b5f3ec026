import CPosix
import Glibc
@testable import Posix
import Testing
import TestSupport

/// The kernel's socket table through NETLINK_SOCK_DIAG, against real sockets: this process's own (found with our
/// uid) and ones `runuser -u nobody` made (found with nobody's uid), over IPv4, IPv6, dual-stack listeners and
/// IPv4-mapped connections. Plus the answer parser on every cut of a real-shaped answer.
@Suite struct SocketTableTests {
    static let nobody: UInt32 = 65534

    /// A listener of this process on `host`, and a connection to it (client fd, accepted fd).
    final class OwnPair {
        let listener: Int32, client: Int32, accepted: Int32
        let bound: SocketAddress
        let clientAddress: SocketAddress

        init(host: String, clientHost: String? = nil) throws {
            let address = try #require(SocketAddress(host: host, port: 0))
            listener = try PosixSocket.bound(to: address, nonBlocking: false)
            try PosixSocket.listen(listener, on: address)
            bound = try #require(PosixSocket.localAddress(listener))
            let target = try #require(SocketAddress(host: clientHost ?? bound.host, port: bound.port))
            client = try PosixSocket.connect(to: target, milliseconds: 2000, nonBlocking: false)
            guard case .done(let (fd, _)) = try PosixSocket.accept(listener, nonBlocking: false) else {
                throw PosixError("accept", code: EAGAIN)
            }
            accepted = fd
            clientAddress = try #require(PosixSocket.localAddress(client))
        }

        deinit { for fd in [listener, client, accepted] { close(fd) } }
    }

    @Test func thisProcesssListenerIsFoundWithOurUID() throws {
        for host in ["127.0.0.1", "::1"] {
            let pair = try OwnPair(host: host)
            let entry = try #require(try SocketTable.listener(at: pair.bound))
            #expect(entry.kind == .listening && entry.uid == getuid(), "\(host)")
            #expect(entry.local == pair.bound)
        }
    }

    @Test func aPortNobodyListensOnHasNoListener() throws {
        let free = try LoopbackNet.freePort()
        #expect(try SocketTable.listener(at: #require(SocketAddress(host: "127.0.0.1", port: free))) == nil)
        // A connected socket's own address is not a listener either.
        let pair = try OwnPair(host: "127.0.0.1")
        #expect(try SocketTable.listener(at: pair.clientAddress) == nil)
    }

    @Test func thisProcesssConnectionsAreFoundWithOurUIDInBothDirections() throws {
        for host in ["127.0.0.1", "::1"] {
            let pair = try OwnPair(host: host)
            // The client end (as accept(2) reports the peer) and the accepted end.
            #expect(try SocketTable.owner(of: pair.clientAddress, connectedTo: pair.bound) == getuid(), "\(host)")
            #expect(try SocketTable.owner(of: pair.bound, connectedTo: pair.clientAddress) == getuid(), "\(host)")
            let entry = try #require(try SocketTable.connection(from: pair.clientAddress, to: pair.bound))
            #expect(entry.kind == .connected && entry.local == pair.clientAddress && entry.remote == pair.bound)
            // Swapped ports name no socket: nothing is guessed.
            let wrong = try #require(SocketAddress(host: host, port: pair.clientAddress.port == 65535 ? 1 : pair.clientAddress.port + 1))
            #expect(try SocketTable.owner(of: wrong, connectedTo: pair.bound) == nil)
        }
    }

    /// An AF_INET6 socket connected to ::ffff:127.0.0.1 (a dual-stack Java or Python client) lives in the IPv6
    /// table; the IPv4 listener sees it as 127.0.0.1. Found either way.
    @Test func anIPv4MappedClientIsFound() throws {
        let pair = try OwnPair(host: "127.0.0.1", clientHost: "::ffff:127.0.0.1")
        #expect(pair.clientAddress.family == .ipv6 && pair.clientAddress.host == "::ffff:127.0.0.1")
        #expect(pair.clientAddress.unmapped == SocketAddress(host: "127.0.0.1", port: pair.clientAddress.port))
        // As accept(2) on the IPv4 listener reports the peer, and as the client itself sees its address.
        #expect(try SocketTable.owner(of: pair.clientAddress.unmapped, connectedTo: pair.bound) == getuid())
        #expect(try SocketTable.owner(of: pair.clientAddress, connectedTo: pair.bound) == getuid())
    }

    @Test func nobodysListenersAreFoundWithNobodysUID() throws {
        let sockets = try OtherUserSockets(listeners: OtherUserSockets.Listener.allCases)
        let v4 = try #require(sockets.port(of: .ipv4))
        let v6 = try #require(sockets.port(of: .ipv6))
        let dual = try #require(sockets.port(of: .dualStack))
        let v6only = try #require(sockets.port(of: .ipv6Only))
        func listener(_ host: String, _ port: Int) throws -> SocketTable.Entry? {
            try SocketTable.listener(at: #require(SocketAddress(host: host, port: port)))
        }
        #expect(try listener("127.0.0.1", v4)?.uid == Self.nobody)
        #expect(try listener("::1", v6)?.uid == Self.nobody)
        // The dual-stack listener on :: takes IPv4 connections: found from 127.0.0.1 and ::ffff:127.0.0.1 too.
        #expect(try listener("127.0.0.1", dual)?.uid == Self.nobody)
        #expect(try listener("::ffff:127.0.0.1", dual)?.uid == Self.nobody)
        #expect(try listener("::1", dual)?.uid == Self.nobody)
        // IPV6_V6ONLY on :: takes no IPv4 connection: no listener for 127.0.0.1 there.
        #expect(try listener("::1", v6only)?.uid == Self.nobody)
        #expect(try listener("127.0.0.1", v6only) == nil)
        // Nothing on another loopback address for the 127.0.0.1-only listener.
        #expect(try listener("127.0.0.2", v4) == nil)
    }

    @Test func nobodysConnectionsAreFoundWithNobodysUID() throws {
        let own = try OwnPair(host: "127.0.0.1")
        let own6 = try OwnPair(host: "::1")
        let targets = ["127.0.0.1:\(own.bound.port)", "::ffff:127.0.0.1:\(own.bound.port)", "::1:\(own6.bound.port)"]
        let sockets = try OtherUserSockets(connections: targets)
        for (target, pair) in zip(targets, [own, own, own6]) {
            let made = try #require(sockets.connection(to: target), "\(sockets.process.output)")
            let client = try #require(SocketAddress(host: made.host, port: made.port))
            #expect(try SocketTable.owner(of: client, connectedTo: pair.bound) == Self.nobody, "\(target)")
            #expect(try SocketTable.owner(of: client.unmapped, connectedTo: pair.bound) == Self.nobody, "\(target)")
        }
    }

    // MARK: The answer parser

    /// A well-formed answer: nlmsghdr + inet_diag_msg for 127.0.0.1:2121 ← 127.0.0.1:40000, uid 1000.
    static func answer(sequence: UInt32 = 1, state: UInt8 = 1, uid: UInt32 = 1000) -> [UInt8] {
        var message = inet_diag_msg()
        message.idiag_family = UInt8(AF_INET)
        message.idiag_state = state
        message.id.idiag_sport = UInt16(2121).bigEndian
        message.id.idiag_dport = UInt16(40000).bigEndian
        withUnsafeMutableBytes(of: &message.id.idiag_src) { $0.copyBytes(from: [127, 0, 0, 1]) }
        withUnsafeMutableBytes(of: &message.id.idiag_dst) { $0.copyBytes(from: [127, 0, 0, 1]) }
        message.idiag_uid = uid
        var header = nlmsghdr()
        header.nlmsg_len = UInt32(MemoryLayout<nlmsghdr>.size + MemoryLayout<inet_diag_msg>.size)
        header.nlmsg_type = UInt16(SOCK_DIAG_BY_FAMILY)
        header.nlmsg_seq = sequence
        return withUnsafeBytes(of: header) { Array($0) } + withUnsafeBytes(of: message) { Array($0) }
    }

    static func error(_ code: Int32, sequence: UInt32 = 1) -> [UInt8] {
        var header = nlmsghdr()
        header.nlmsg_len = UInt32(MemoryLayout<nlmsghdr>.size + 4 + MemoryLayout<nlmsghdr>.size)
        header.nlmsg_type = UInt16(NLMSG_ERROR)
        header.nlmsg_seq = sequence
        return withUnsafeBytes(of: header) { Array($0) } + withUnsafeBytes(of: -code) { Array($0) }
            + [UInt8](repeating: 0, count: MemoryLayout<nlmsghdr>.size)
    }

    @Test func answersAreReadByKindAndSequence() throws {
        let local = try #require(SocketAddress(host: "127.0.0.1", port: 2121))
        let remote = try #require(SocketAddress(host: "127.0.0.1", port: 40000))
        #expect(SocketTable.answer(in: Self.answer()[...], sequence: 1)
                == .found(.init(kind: .connected, uid: 1000, local: local, remote: remote)))
        #expect(SocketTable.answer(in: Self.answer(state: cposix_tcp_listen)[...], sequence: 1)
                == .found(.init(kind: .listening, uid: 1000, local: local, remote: remote)))
        // A request socket's uid (0 from the kernel) is no owner; a TIME_WAIT remnant is no socket.
        #expect(SocketTable.answer(in: Self.answer(state: cposix_tcp_new_syn_recv, uid: 0)[...], sequence: 1)
                == .found(.init(kind: .handshaking, uid: nil, local: local, remote: remote)))
        #expect(SocketTable.answer(in: Self.answer(state: cposix_tcp_time_wait, uid: 0)[...], sequence: 1) == .notFound)
        #expect(SocketTable.answer(in: Self.error(ENOENT)[...], sequence: 1) == .notFound)
        #expect(SocketTable.answer(in: Self.error(EPERM)[...], sequence: 1) == .failed(EPERM))
        // Another request's answer is skipped; ours after it in the same datagram counts.
        #expect(SocketTable.answer(in: Self.answer(sequence: 7)[...], sequence: 1) == .unrelated)
        #expect(SocketTable.answer(in: (Self.answer(sequence: 7, uid: 0) + Self.answer())[...], sequence: 1)
                == .found(.init(kind: .connected, uid: 1000, local: local, remote: remote)))
    }

    /// Every cut of an answer, and lengths that lie, parse without trapping and find nothing.
    @Test func cutOrLyingAnswersAreNeverRead() {
        let whole = Self.answer() + Self.error(ENOENT)
        for end in 0..<Self.answer().count {
            #expect(SocketTable.answer(in: whole[0..<end], sequence: 1) == .unrelated, "cut at \(end)")
        }
        for lie: UInt32 in [0, 1, 15, UInt32(whole.count + 1), UInt32.max] {
            var bytes = whole
            withUnsafeBytes(of: lie) { bytes.replaceSubrange(0..<4, with: $0) }
            #expect(SocketTable.answer(in: bytes[...], sequence: 1) == .unrelated, "length \(lie)")
        }
    }
}
