import Foundation
import Posix

/// The thread-safe face of one pool session's forwarding loop: an inbox of connections to adopt, the
/// loop's wake-up pipe and its load (connections dispatched to it and not yet finished).
/// Other threads only ever touch this object; the loop itself drains the inbox on its own thread.
final class PoolMember: @unchecked Sendable {
    /// 1 for the tunnel's own session (the one whose loop keeps the listeners).
    let number: Int
    let wakeUp: WakeUpPipe
    private let lock = NSLock()
    private var inbox: [AdoptedConnection] = []
    /// Channel-open outcomes of active-mode connections this loop dispatched elsewhere, by token.
    private var reports: [(token: Int, outcome: ChannelOpenOutcome)] = []
    private var load = 0
    private var closed = false
    private var connected = true

    init(number: Int, wakeUp: WakeUpPipe) {
        self.number = number
        self.wakeUp = wakeUp
    }

    /// Connections (control and data) dispatched here and not finished (queued ones included).
    var activeDataConnections: Int { lock.withLock { load } }

    var isOpen: Bool { lock.withLock { !closed } }

    /// False while its loop is reconnecting: the dispatcher sends new connections elsewhere when it can.
    var isConnected: Bool {
        get { lock.withLock { connected } }
        set { lock.withLock { connected = newValue } }
    }

    /// Counts one more data connection against this member (the dispatcher's reservation); false once closed.
    func reserve() -> Bool {
        lock.withLock {
            guard !closed else { return false }
            load += 1
            return true
        }
    }

    /// Queues a reserved connection and wakes the loop. False when the loop has ended meanwhile (the caller
    /// still owns the fd and the reservation is void).
    func adopt(_ connection: AdoptedConnection) -> Bool {
        let queued = lock.withLock {
            guard !closed else { return false }
            inbox.append(connection)
            return true
        }
        if queued { wakeUp.wake() }
        return queued
    }

    /// Loop thread: the connections to adopt now.
    func takeQueued() -> [AdoptedConnection] {
        lock.withLock {
            guard !inbox.isEmpty else { return [] }
            defer { inbox.removeAll(keepingCapacity: true) }
            return inbox
        }
    }

    /// Any thread: the outcome of an active-mode connection's channel for this loop's filter; wakes the loop.
    func postReport(token: Int, outcome: ChannelOpenOutcome) {
        lock.withLock { reports.append((token, outcome)) }
        wakeUp.wake()
    }

    /// Loop thread: outcomes posted since the last call.
    func takeReports() -> [(token: Int, outcome: ChannelOpenOutcome)] {
        lock.withLock {
            defer { reports.removeAll(keepingCapacity: true) }
            return reports
        }
    }

    /// Loop thread: a dispatched connection finished.
    func release() {
        lock.withLock { load = max(0, load - 1) }
    }

    /// Loop thread, when the loop ends: refuse further connections and close the queued ones.
    func close() {
        let orphans = lock.withLock {
            closed = true
            load = 0
            defer { inbox.removeAll() }
            return inbox
        }
        for connection in orphans { PosixDescriptor.close(connection.fd) }
    }
}
