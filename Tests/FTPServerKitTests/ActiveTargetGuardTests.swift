import Glibc
import Posix
import Testing
import TestSupport
@testable import FTPServerKit

/// Active mode's rule on real sockets: the control client's owner comes from the kernel, a target must listen as
/// that uid on the client's address, and a connection made is judged by the socket it actually reached.
@Suite struct ActiveTargetGuardTests {
    static let nobody: UInt32 = 65534

    /// A listener of this process on `host`.
    static func listener(_ host: String) throws -> (fd: Int32, address: SocketAddress) {
        let any = try #require(SocketAddress(host: host, port: 0))
        let fd = try PosixSocket.bound(to: any, nonBlocking: false)
        try PosixSocket.listen(fd, on: any)
        return (fd, try #require(PosixSocket.localAddress(fd)))
    }

    @Test func theControlClientsOwnerComesFromTheKernel() throws {
        let control = try Self.listener("127.0.0.1")
        defer { close(control.fd) }
        // nobody's control connection (from a dual-stack socket, as Java makes them) and one of our own.
        let nobody = try OtherUserSockets(connections: ["::ffff:127.0.0.1:\(control.address.port)"])
        for expected in [Self.nobody, getuid()] {
            let own = expected == getuid() ? try PosixSocket.connect(to: control.address, milliseconds: 2000, nonBlocking: false) : -1
            defer { if own >= 0 { close(own) } }
            guard case .done(let (accepted, _)) = try PosixSocket.accept(control.fd, nonBlocking: false) else {
                Issue.record("nothing to accept"); return
            }
            defer { close(accepted) }
            let targetGuard = try ActiveTargetGuard(controlConnection: accepted)
            #expect(targetGuard.clientUID == expected, "\(nobody.process.output)")
            #expect(targetGuard.client.host == "127.0.0.1")
        }
    }

    @Test func aTargetMustListenAsTheClientOnTheClientsAddress() throws {
        let own = try Self.listener("127.0.0.1")
        defer { close(own.fd) }
        let own6 = try Self.listener("::1")
        defer { close(own6.fd) }
        let elsewhere = try Self.listener("127.0.0.3")
        defer { close(elsewhere.fd) }
        let nobody = try OtherUserSockets(listeners: [.ipv4, .dualStack])
        let client = try #require(SocketAddress(host: "127.0.0.1", port: 40000))
        let targetGuard = ActiveTargetGuard(client: client, clientUID: getuid())
        #expect(targetGuard.check(target: own.address) == nil)
        #expect(targetGuard.check(target: try #require(SocketAddress(host: "::ffff:127.0.0.1", port: own.address.port))) == nil)
        #expect(targetGuard.check(target: elsewhere.address)?.description == "127.0.0.3:\(elsewhere.address.port) is not on the client's address 127.0.0.1")
        #expect(ActiveTargetGuard(client: try #require(SocketAddress(host: "::1", port: 1)), clientUID: getuid())
            .check(target: own6.address) == nil)
        for listener in [OtherUserSockets.Listener.ipv4, .dualStack] {
            let port = try #require(nobody.port(of: listener))
            let refusal = targetGuard.check(target: try #require(SocketAddress(host: "127.0.0.1", port: port)))
            #expect(refusal?.description == "the socket listening at 127.0.0.1:\(port) belongs to uid \(Self.nobody), not to the client's uid \(getuid())",
                    "\(listener)")
        }
        let free = try LoopbackNet.freePort()
        let nothing = targetGuard.check(target: try #require(SocketAddress(host: "127.0.0.1", port: free)))
        #expect(nothing?.description == "nothing listens at 127.0.0.1:\(free)" && nothing?.nothingListens == true)
        #expect(targetGuard.check(target: elsewhere.address)?.nothingListens == false)
    }

    /// The connection made is judged by the socket it reached (its own 4-tuple), not by a look-up done earlier.
    @Test func aConnectionIsJudgedByTheSocketItReached() throws {
        let own = try Self.listener("127.0.0.1")
        defer { close(own.fd) }
        let nobody = try OtherUserSockets(listeners: [.ipv4])
        let targetGuard = ActiveTargetGuard(client: try #require(SocketAddress(host: "127.0.0.1", port: 40000)), clientUID: getuid())
        let mine = try PosixSocket.connect(to: own.address, milliseconds: 2000, nonBlocking: false)
        defer { close(mine) }
        #expect(targetGuard.check(connected: mine) == nil)
        let nobodysPort = try #require(nobody.port(of: .ipv4))
        let nobodysListener = try #require(SocketAddress(host: "127.0.0.1", port: nobodysPort))
        let theirs = try PosixSocket.connect(to: nobodysListener, milliseconds: 2000, nonBlocking: false)
        defer { close(theirs) }
        #expect(targetGuard.check(connected: theirs)?.description.hasSuffix("belongs to uid \(Self.nobody), not to the client's uid \(getuid())") == true)
    }

    /// The rule on what the kernel may report: a handshaking peer is judged by its listener's owner; no peer, or a
    /// listener where a connection should be, is refused.
    @Test func theDecisionCoversEveryKindOfPeer() throws {
        let target = try #require(SocketAddress(host: "127.0.0.1", port: 5000))
        let other = try #require(SocketAddress(host: "127.0.0.1", port: 40000))
        func entry(_ kind: SocketTable.Entry.Kind, _ uid: UInt32?) -> SocketTable.Entry {
            .init(kind: kind, uid: uid, local: target, remote: other)
        }
        func decide(_ peer: SocketTable.Entry?, _ listener: SocketTable.Entry? = nil) -> Bool {
            ActiveTargetGuard.decide(peer: peer, listener: listener, clientUID: 1000, target: target) == nil
        }
        #expect(decide(entry(.connected, 1000)))
        #expect(!decide(entry(.connected, 0)))
        #expect(!decide(entry(.connected, nil)))
        #expect(decide(entry(.handshaking, nil), entry(.listening, 1000)))
        #expect(!decide(entry(.handshaking, nil), entry(.listening, 0)))
        #expect(!decide(entry(.handshaking, nil), nil))
        #expect(!decide(entry(.listening, 1000)))
        #expect(!decide(nil))
    }
}
