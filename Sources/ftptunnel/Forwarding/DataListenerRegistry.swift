import Foundation

/// The one-shot data listeners of rewrite mode, keyed by (control connection, data id), with their expiry.
/// Owned by the forwarding loop's thread. The registry only keeps the bookkeeping; the loop polls the listeners
/// and closes one by dropping its last reference.
final class DataListenerRegistry {
    struct Key: Hashable {
        let owner: ObjectIdentifier
        let id: Int
    }

    /// A passive listener nobody connects to is closed after this long (the product's value; tests shorten it
    /// through `Tunnel.listenerTimeoutOverride`).
    static let defaultUnusedListenerTimeout: TimeInterval = 60

    let unusedListenerTimeout: TimeInterval
    private var entries: [Key: (listener: LocalListener, expires: Date)] = [:]

    init(unusedListenerTimeout: TimeInterval = DataListenerRegistry.defaultUnusedListenerTimeout) {
        self.unusedListenerTimeout = unusedListenerTimeout
    }

    var count: Int { entries.count }

    func add(_ listener: LocalListener, key: Key, now: Date = Date()) {
        entries[key] = (listener, now.addingTimeInterval(unusedListenerTimeout))
    }

    /// Drops and returns the listener of `key` (nil when it accepted or expired already).
    func remove(_ key: Key) -> LocalListener? {
        entries.removeValue(forKey: key)?.listener
    }

    /// Drops and returns every listener of `owner`.
    func removeAll(owner: ObjectIdentifier) -> [LocalListener] {
        let keys = entries.keys.filter { $0.owner == owner }
        return keys.compactMap { entries.removeValue(forKey: $0)?.listener }
    }

    /// The listener accepted its connection: it is no longer waiting.
    func forget(_ listener: LocalListener) {
        if let key = entries.first(where: { $0.value.listener === listener })?.key { entries.removeValue(forKey: key) }
    }

    /// Drops and returns the listeners whose time is up.
    func removeExpired(now: Date = Date()) -> [LocalListener] {
        let keys = entries.filter { $0.value.expires <= now }.map(\.key)
        return keys.compactMap { entries.removeValue(forKey: $0)?.listener }
    }

    /// When the next listener expires (nil: none waiting).
    var nextExpiry: Date? { entries.values.map(\.expires).min() }

    func removeAll() { entries.removeAll() }
}
