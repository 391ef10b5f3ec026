import Foundation
import TunnelCore

/// What `ftptunnel status` shows, kept up to date by the loop threads (briefly locked, never blocking the data
/// path) and read by the control socket's thread.
final class TunnelActivity: @unchecked Sendable {
    struct Snapshot {
        var sessions: [(number: Int, state: String)]
        var controlConnections: Int
        var dataConnections: Int
        var transfers: [LiveTransfer]
    }

    private let lock = NSLock()
    private var sessions: [Int: String] = [:]
    private var controlConnections = 0
    private var dataConnections = 0
    private var transfers: [ObjectIdentifier: LiveTransfer] = [:]

    func setSession(_ number: Int, state: String) { lock.withLock { sessions[number] = state } }
    func removeSession(_ number: Int) { lock.withLock { _ = sessions.removeValue(forKey: number) } }

    func connectionOpened(control: Bool) {
        lock.withLock { if control { controlConnections += 1 } else { dataConnections += 1 } }
    }

    func connectionClosed(control: Bool) {
        lock.withLock {
            if control { controlConnections = max(0, controlConnections - 1) } else { dataConnections = max(0, dataConnections - 1) }
        }
    }

    func add(_ transfer: LiveTransfer) { lock.withLock { transfers[ObjectIdentifier(transfer)] = transfer } }
    func remove(_ transfer: LiveTransfer) { lock.withLock { _ = transfers.removeValue(forKey: ObjectIdentifier(transfer)) } }

    var snapshot: Snapshot {
        lock.withLock {
            Snapshot(sessions: sessions.sorted { $0.key < $1.key }.map { ($0.key, $0.value) },
                     controlConnections: controlConnections, dataConnections: dataConnections,
                     transfers: transfers.values.sorted { $0.started < $1.started })
        }
    }
}

/// One transfer in progress: what the control connection said, and its data connection's meter.
final class LiveTransfer: @unchecked Sendable {
    let transfer: TransferTracker.Transfer
    let connection: Int
    let started: Date
    let meter: TransferMeter?

    init(transfer: TransferTracker.Transfer, connection: Int, started: Date, meter: TransferMeter?) {
        self.transfer = transfer
        self.connection = connection
        self.started = started
        self.meter = meter
    }
}
