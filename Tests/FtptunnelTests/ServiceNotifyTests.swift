import Foundation
import Glibc
import Logging
import Posix
import Testing
import TestSupport
@testable import ftptunnel

/// systemd's Type=notify without libsystemd: `ftptunnel connect` under `$NOTIFY_SOCKET` tells a real AF_UNIX datagram
/// socket READY=1 once the tunnel accepts connections and STOPPING=1 when SIGTERM starts the shutdown.
@Suite(.serialized) struct ServiceNotifyTests {
    /// A receiver like systemd's: bound before the service starts, read with a deadline.
    final class NotifyReceiver {
        let name: String
        let fd: Int32
        private(set) var messages: [String] = []

        init(abstract: Bool, in directory: TempDirectory) throws {
            name = abstract ? "@ftptunnel-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))" : directory.file("notify")
            fd = try UnixDatagram.bound(to: try #require(UnixSocketAddress(name)))
        }

        /// The next datagram containing `assignment`; earlier ones are kept in `messages`.
        func wait(for assignment: String, seconds: Double = 30) throws -> String {
            try Deadline.value(of: "\(assignment) on \(name)", seconds: seconds) { () -> String? in
                while case .done(let bytes) = try UnixDatagram.receive(fd) {
                    let message = String(decoding: bytes, as: UTF8.self)
                    messages.append(message)
                    if message.split(separator: "\n").contains(Substring(assignment)) { return message }
                }
                return nil
            }
        }

        deinit { close(fd) }
    }

    @Test(arguments: [true, false])
    func readyWhenTheTunnelIsReadyAndStoppingOnSIGTERM(abstract: Bool) throws {
        let recipe = try TunnelRecipe(server: .pasvd)
        try TunnelPayload.random(at: recipe.root.file("file.bin"), mebibytes: 1)
        let receiver = try NotifyReceiver(abstract: abstract, in: recipe.work)
        let tunnel = try recipe.tunnel(environment: ["NOTIFY_SOCKET": receiver.name])

        let ready = try receiver.wait(for: "READY=1")
        #expect(tunnel.output.contains(TunnelProcess.readyMarker), "READY=1 came before the ready line")
        #expect(ready.contains("STATUS=ready: \(tunnel.url)"), "\(ready)")
        #expect(receiver.messages.count == 1, "\(receiver.messages)")
        // Ready means ready: a client connecting right after READY=1 is served.
        let down = try FTPClients.curl(["\(tunnel.url)/file.bin", "-o", recipe.work.file("down.bin")])
        #expect(down.status == 0, "\(down.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(recipe.work.file("down.bin")) == TestFiles.sha256(recipe.root.file("file.bin")))

        tunnel.process.signal(SIGTERM)
        let stopping = try receiver.wait(for: "STOPPING=1")
        #expect(stopping.contains("STATUS=stopping"))
        #expect(try tunnel.process.waitForExit(seconds: 20) == 0, "\(tunnel.output)")
    }

    /// An address systemd would never pass is logged, and the tunnel works as without one.
    @Test func unusableNotifySocketIsLoggedNotFatal() throws {
        let recipe = try TunnelRecipe(server: .pasvd)
        let tunnel = try recipe.tunnel(environment: ["NOTIFY_SOCKET": "relative/notify"])
        #expect(tunnel.output.contains("NOTIFY_SOCKET=relative/notify is not an absolute socket path"), "\(tunnel.output)")
        let list = try FTPClients.curl(["\(tunnel.url)/"])
        #expect(list.status == 0, "\(list.output)\n\(tunnel.output)")
    }

    /// The message itself: one datagram, newline-separated assignments, a status that cannot start another one.
    @Test func notifierSendsOneDatagramPerEvent() throws {
        let directory = try TempDirectory("notify-unit")
        let receiver = try NotifyReceiver(abstract: true, in: directory)
        let notifier = try #require(ServiceNotifier(environment: ["NOTIFY_SOCKET": receiver.name], logger: .init(label: "test")))
        notifier.ready(status: "ready:\nftp://127.0.0.1:21")
        #expect(try receiver.wait(for: "READY=1") == "READY=1\nSTATUS=ready: ftp://127.0.0.1:21")
        notifier.stopping()
        #expect(try receiver.wait(for: "STOPPING=1") == "STOPPING=1\nSTATUS=stopping")
        #expect(ServiceNotifier(environment: [:], logger: .init(label: "test")) == nil)
        #expect(ServiceNotifier(environment: ["NOTIFY_SOCKET": ""], logger: .init(label: "test")) == nil)
    }
}
