import Foundation
import Testing
import TestSupport
@testable import ftptunnel

/// The rewrite-mode data listener's expiry: 60 s in the product, shortened for tests only through the hidden
/// FTPTUNNEL_DATA_LISTENER_TIMEOUT (RewriteRobustnessTests watches it end to end).
@Suite struct DataListenerTimeoutTests {
    @Test func theProductKeepsAnUnusedListenerSixtySeconds() {
        #expect(DataListenerRegistry().unusedListenerTimeout == 60)
        #expect(ForwardingLoop.Configuration(dataWindow: 1 << 20, keepaliveInterval: 0, bindAddress: "127.0.0.1")
                    .unusedListenerTimeout == 60)
    }

    @Test func aListenerExpiresAfterTheRegistrysTimeout() throws {
        let registry = DataListenerRegistry(unusedListenerTimeout: 5)
        let listener = try LocalListener(address: "127.0.0.1", port: try LoopbackNet.freePort(on: "127.0.0.1"),
                                         target: ForwardTarget(host: "127.0.0.2", port: 21), oneShot: true)
        let start = Date()
        registry.add(listener, key: .init(owner: ObjectIdentifier(registry), id: 1), now: start)
        #expect(registry.removeExpired(now: start.addingTimeInterval(4.9)).isEmpty)
        #expect(registry.removeExpired(now: start.addingTimeInterval(5)).map { $0 === listener } == [true])
        #expect(registry.count == 0)
    }

    @Test(arguments: [("5", 5.0), ("1", 1.0), ("60", 60.0)])
    func theOverrideIsReadInSeconds(_ text: String, _ seconds: Double) {
        #expect(Tunnel.listenerTimeout(from: ["FTPTUNNEL_DATA_LISTENER_TIMEOUT": text]) == seconds)
    }

    @Test(arguments: ["", "0", "61", "-1", "5s", "1e3", " 5"])
    func anOverrideOutsideOneToSixtyIsIgnored(_ text: String) {
        #expect(Tunnel.listenerTimeout(from: ["FTPTUNNEL_DATA_LISTENER_TIMEOUT": text]) == nil)
        #expect(Tunnel.listenerTimeout(from: [:]) == nil)
    }
}
