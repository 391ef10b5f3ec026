import Foundation
import FTPServerKit
import Logging
import Posix
import Testing
@testable import ftptunnel
import TunnelCore

/// What the server's side of a rewrite-mode control connection asks for (a data listener, a rewritten reply)
/// waits for the loop's `runQueuedActions`: a lane's read never opens a listener (and with it an early channel on
/// a lane) from inside itself. The loop's side (the client's bytes) still acts at once.
@Suite struct RewriteControlQueueTests {
    /// The loop's side of `ForwardingControl`, recording the listeners asked for (no sockets: the filter only
    /// needs a port back).
    private final class RecordingLoop: ForwardingControl {
        var listeners: [(id: Int, target: ForwardTarget)] = []
        var released: [Int] = []

        func openDataListener(owner: ObjectIdentifier, id: Int, target: ForwardTarget, address: String,
                              meter: TransferMeter?) throws -> Int {
            listeners.append((id, target))
            return 40000 + id
        }
        func releaseDataListener(owner: ObjectIdentifier, id: Int) { released.append(id) }
        func releaseDataListeners(owner: ObjectIdentifier) {}
        func connectActive(client: SocketAddress, target: ForwardTarget, targetGuard: ActiveTargetGuard,
                           meter: TransferMeter?, completion: @escaping (ActiveConnectOutcome) -> Void) {
            completion(.failed("not in this test"))
        }
        var wakeLoop: @Sendable () -> Void { {} }
    }

    private static func pending(_ forward: Forward) -> String {
        String(decoding: Array(forward.toLocal.readable) + forward.toLocalOverflow, as: UTF8.self)
    }

    private static func send(_ text: String, _ body: (UnsafeRawBufferPointer) -> Void) {
        Array(text.utf8).withUnsafeBytes(body)
    }

    @Test(arguments: [true, false]) func aPassiveReplyOpensItsListenerOnlyWhenTheLoopRunsTheQueue(reconnect: Bool) throws {
        let loop = RecordingLoop()
        var settings = TunnelSettings(sshHost: "127.0.0.1", user: "test")
        settings.ftpHost = "10.1.2.3"
        settings.reconnect = reconnect
        let arrivedOn = try #require(SocketAddress(host: "127.0.0.1", port: 2121))
        let control = RewriteControl(control: loop, settings: settings, arrivedOn: arrivedOn, logger: Logger(label: "test"))
        let forward = Forward(id: 1, fd: -1, peer: "127.0.0.1", peerPort: 5000, localPort: 2121,
                              target: ForwardTarget(host: "10.1.2.3", port: 21), filter: control, bufferSize: 4096)
        control.attach(to: forward)

        Self.send("220 ready\r\n") { control.serverBytes($0) }
        #expect(Self.pending(forward).isEmpty, "a server read's output waits for the loop")
        #expect(!control.wantsServerBytes, "no further server read while a read's actions wait")
        #expect(control.holdsOutput)
        #expect(control.runQueuedActions())
        #expect(Self.pending(forward) == "220 ready\r\n")
        #expect(control.wantsServerBytes)
        #expect(!control.runQueuedActions(), "nothing left to run")

        Self.send("PASV\r\n") { control.clientBytes($0) }
        #expect(forward.toChannel.count == 6, "the client's side acts at once: PASV is on its way to the server")

        Self.send("227 Entering Passive Mode (10,1,2,3,4,5).\r\n") { control.serverBytes($0) }
        #expect(loop.listeners.isEmpty, "no listener opened from inside the channel read")
        #expect(Self.pending(forward) == "220 ready\r\n")
        #expect(control.runQueuedActions())
        #expect(loop.listeners.map(\.id) == [1])
        #expect(loop.listeners.first?.target == ForwardTarget(host: "10.1.2.3", port: 4 * 256 + 5))
        #expect(Self.pending(forward) == "220 ready\r\n227 Entering Passive Mode (127,0,0,1,156,65).\r\n",
                "the rewritten reply names the listener's port 40001")
    }
}
