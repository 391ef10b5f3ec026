import Foundation

/// Rewrite mode's early data channels (`EarlyDataChannel yes`) that wait for their listener's one client, keyed by
/// the listener, at most one per control connection (`owner`) and `capacity` in all. Owned by the forwarding
/// loop's thread. An entry leaves when its listener accepts (the connection adopts the channel) or closes (the
/// channel is closed): it never outlives the listener, whose own expiry bounds how long a channel waits.
struct EarlyChannelTable {
    /// Most early channels waiting at once in one loop.
    static let capacity = 64

    private var entries: [ObjectIdentifier: (forward: Forward, owner: ObjectIdentifier)] = [:]

    var count: Int { entries.count }

    func has(owner: ObjectIdentifier) -> Bool { entries.values.contains { $0.owner == owner } }

    mutating func add(_ forward: Forward, for listener: LocalListener, owner: ObjectIdentifier) {
        entries[ObjectIdentifier(listener)] = (forward, owner)
    }

    /// Removes and returns the channel waiting for `listener`'s client.
    mutating func take(for listener: LocalListener) -> Forward? {
        entries.removeValue(forKey: ObjectIdentifier(listener))?.forward
    }

    mutating func removeAll() { entries.removeAll() }
}
