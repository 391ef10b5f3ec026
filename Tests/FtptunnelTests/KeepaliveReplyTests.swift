import CLibSSH2
import Foundation
import Logging
import TunnelCore
import Testing
import TestSupport
@testable import ftptunnel

/// The libssh2 1.10 behaviour `ServerAliveMonitor` is built around, shown against a real sshd: the server's reply
/// to a want_reply keepalive (SSH_MSG_REQUEST_FAILURE, 1 byte) stays in the session's packet list, channel opens
/// still work, and `libssh2_poll_channel_read` then fails while `SSHChannel.hasQueuedData` still sees queued data.
@Suite(.serialized) struct KeepaliveReplyTests {
    @Test func aQueuedKeepaliveReplyNeitherBreaksOpensNorHidesQueuedChannelData() throws {
        let recipe = try TunnelRecipe(server: .pasvd)
        let home = try TempDirectory("keepalive-home")
        var settings = TunnelSettings(sshHost: recipe.sshd.host, user: recipe.sshd.user)
        settings.sshPort = recipe.sshd.port
        settings.identityFiles = [recipe.sshd.userKey]
        settings.identitiesOnly = true
        settings.knownHostsFiles = [recipe.knownHosts]
        settings.strictHostKeyChecking = .yes
        let session = try SSHConnector(settings: settings, logger: Logger(label: "keepalive-reply-test"),
                                       environment: ["HOME": home.path]).connect()
        session.configureProbes()
        guard case .done(true) = try session.sendKeepalive() else { Issue.record("keepalive not sent"); return }

        // sshd answers in order: the REQUEST_FAILURE arrives before the open confirmation, so the blocking open
        // reads it into the packet list, and the open still succeeds.
        func open() throws -> SSHChannel {
            guard case .done(let channel) = try session.openDirectTCPIP(
                host: LoopbackNet.serverSide, port: recipe.ftpPort, originatorHost: "127.0.0.1", originatorPort: 1,
                window: 1 << 20, packetSize: ForwardingLoop.packetSize) else { throw POSIXError(.EAGAIN) }
            return channel
        }
        let first = try open()
        let second = try open()
        session.setBlocking(false)

        // Reading the second channel makes libssh2 read the socket and queue the first channel's 220 greeting.
        var scratch = [UInt8](repeating: 0, count: 4096)
        try Deadline.wait(for: "the first channel's greeting queued inside libssh2") {
            _ = try scratch.withUnsafeMutableBytes { try second.read(into: $0) }
            return first.hasQueuedData
        }
        #expect(libssh2_poll_channel_read(first.handle, 0) < 0, "libssh2 1.10 stops at the 1-byte reply")
        let greeting = try scratch.withUnsafeMutableBytes { buffer -> String in
            guard case .done(let count) = try first.read(into: buffer) else { return "" }
            return String(decoding: buffer.prefix(count), as: UTF8.self)
        }
        #expect(greeting.hasPrefix("220"), "\(greeting)")
        #expect(!first.hasQueuedData)
    }
}
