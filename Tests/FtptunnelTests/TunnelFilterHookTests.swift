import Foundation
import Logging
import Shared
import Testing
import TestSupport
@testable import ftptunnel

/// The extension points rewrite mode builds on, exercised in-process against a real sshd and vsftpd:
/// a byte filter on the control connection and one-shot listeners created from inside the filter.
@Suite(.serialized) struct TunnelFilterHookTests {
    /// Rewrites the server's greeting and, on the first server bytes, asks the loop for a one-shot listener
    /// forwarding to the FTP control port (as rewrite mode does for a 227 reply's data port).
    final class GreetingFilter: StreamFilter, @unchecked Sendable {
        let control: ForwardingControl
        let target: ForwardTarget
        let lock = NSLock()
        var oneShotPort: Int?
        var clientBytes = 0

        init(control: ForwardingControl, target: ForwardTarget) {
            self.control = control
            self.target = target
        }

        func clientToServer(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
            lock.lock(); clientBytes += bytes.count; lock.unlock()
            return Array(bytes)
        }

        func serverToClient(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
            lock.lock(); defer { lock.unlock() }
            if oneShotPort == nil { oneShotPort = try? control.addOneShotListener(target: target, range: nil) }
            let text = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "(vsFTPd", with: "(filtered vsFTPd")
            return Array(text.utf8)
        }

        var port: Int? { lock.lock(); defer { lock.unlock() }; return oneShotPort }
    }

    final class Box: @unchecked Sendable {
        let lock = NSLock()
        var ready: TunnelReady?
        var filter: GreetingFilter?
        var error: Error?
        func set(_ body: (Box) -> Void) { lock.lock(); body(self); lock.unlock() }
        func get<T>(_ body: (Box) -> T) -> T { lock.lock(); defer { lock.unlock() }; return body(self) }
    }

    @Test func controlFilterRewritesBytesAndOpensOneShotListeners() throws {
        let recipe = try TunnelRecipe()
        var settings = TunnelSettings(sshHost: recipe.sshd.host, user: recipe.sshd.user)
        settings.sshPort = recipe.sshd.port
        settings.identityFiles = [recipe.sshd.userKey]
        settings.identitiesOnly = true
        settings.knownHostsFiles = [recipe.knownHosts]
        settings.strictHostKeyChecking = .yes
        settings.mode = .fixed
        settings.ftpHost = LoopbackNet.serverSide
        settings.ftpPort = recipe.vsftpd.port
        settings.localPort = try LoopbackNet.freePort(on: "127.0.0.1")
        settings.passivePorts = PortRange(lower: recipe.vsftpd.passivePorts.lowerBound, upper: recipe.vsftpd.passivePorts.upperBound)

        let tunnel = Tunnel(settings: settings, logger: Logger(label: "filter-hook-test"))
        let box = Box()
        let target = ForwardTarget(host: LoopbackNet.serverSide, port: recipe.vsftpd.port)
        tunnel.controlFilter = { control in
            let filter = GreetingFilter(control: control, target: target)
            box.set { $0.filter = filter }
            return filter
        }
        let thread = Thread {
            do { try tunnel.run { ready in box.set { $0.ready = ready } } } catch { box.set { $0.error = error } }
        }
        thread.start()
        defer {
            tunnel.stop()
            try? Deadline.wait(for: "the tunnel thread to end") { thread.isFinished }
        }
        let ready = try Deadline.value(of: "the tunnel to be ready") {
            if let error = box.get({ $0.error }) { throw error }
            return box.get { $0.ready }
        }

        let control = try RawFTPControl(host: "127.0.0.1", port: ready.localPort)
        let greeting = try #require(control.readReply())
        #expect(greeting.hasPrefix("220"), "\(greeting)")
        #expect(greeting.contains("(filtered vsFTPd"), "\(greeting)")
        #expect(control.command("USER anonymous")?.hasPrefix("230") == true)
        #expect((box.get { $0.filter?.clientBytes } ?? 0) == "USER anonymous\r\n".utf8.count)

        let port = try #require(box.get { $0.filter?.port })
        let viaOneShot = try RawFTPControl(host: "127.0.0.1", port: port)
        #expect(viaOneShot.readReply()?.hasPrefix("220") == true)
        #expect(!LoopbackNet.isListening("127.0.0.1", port), "a one-shot listener accepts exactly one connection")
        _ = control.command("QUIT")
    }
}
