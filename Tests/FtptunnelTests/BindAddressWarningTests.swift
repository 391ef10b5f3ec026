import Foundation
import Testing
import TestSupport

/// The warning about a listening address others can reach, through the real ftptunnel and sshd: none for a
/// loopback address other than 127.0.0.1 (127.0.0.2 is loopback too), one for the wildcard address.
@Suite(.serialized) struct BindAddressWarningTests {
    static let warning = "not loopback only: anyone who can reach this address can use the tunnel"

    @Test func anotherLoopbackAddressIsNotWarnedAbout() throws {
        let world = try RewriteTransferTests.World(mebibytes: 1)
        let tunnel = try world.tunnel(ftpPort: try LoopbackNet.freePort(on: LoopbackNet.serverSide), ["-o", "BindAddress=127.0.0.2"])
        #expect(ProcessSockets.listening(tunnel.pid).contains("127.0.0.2:\(tunnel.localPort)"), "\(ProcessSockets.listening(tunnel.pid))")
        #expect(!tunnel.output.contains(Self.warning), "\(tunnel.output)")
    }

    @Test func theWildcardAddressIsWarnedAbout() throws {
        let world = try RewriteTransferTests.World(mebibytes: 1)
        let tunnel = try world.tunnel(ftpPort: try LoopbackNet.freePort(on: LoopbackNet.serverSide), ["-o", "BindAddress=0.0.0.0"])
        #expect(tunnel.output.contains("listening on 0.0.0.0, \(Self.warning)"), "\(tunnel.output)")
    }
}
