import Foundation
import Posix

/// Spreads connections over the sessions of a pool (`Sessions N`): each new one, control or data, goes to the
/// session with the fewest active connections (ties: the one that was picked longest ago), so the loss of one
/// session fails only what it carried. Thread-safe; called from any loop thread.
///
/// Integration point for rewrite mode and active-mode data connections: hand a local socket to
/// `dispatch(_:)`, or pick with `loopForNewDataConnection()` and `PoolMember.adopt(_:)` yourself.
final class ConnectionDispatcher: @unchecked Sendable {
    private let lock = NSLock()
    private var members: [PoolMember] = []
    private var nextTieBreak = 0

    init(members: [PoolMember] = []) {
        self.members = members
    }

    static let disconnectedPenalty = 1 << 20

    func add(_ member: PoolMember) {
        lock.withLock { members.append(member) }
    }

    var sessionCount: Int { lock.withLock { members.count } }

    /// The least-loaded open member, with one data connection already counted against it; nil when every
    /// session has ended. The caller must `adopt` a connection there (or the tunnel is ending).
    func loopForNewDataConnection() -> PoolMember? {
        lock.withLock {
            let count = members.count
            guard count > 0 else { return nil }
            var best: PoolMember?
            var bestLoad = Int.max
            var bestIndex = 0
            for offset in 0..<count {
                let index = (nextTieBreak + offset) % count
                let member = members[index]
                guard member.isOpen else { continue }
                // A reconnecting session takes new connections only when every session is reconnecting.
                let load = member.activeDataConnections + (member.isConnected ? 0 : Self.disconnectedPenalty)
                if load < bestLoad { best = member; bestLoad = load; bestIndex = index }
            }
            guard let best, best.reserve() else { return nil }
            nextTieBreak = (bestIndex + 1) % count
            return best
        }
    }

    /// Hands `connection` to the least-loaded session's loop (possibly the caller's own). Closes the socket
    /// when no session is left. Returns the member that took it.
    @discardableResult
    func dispatch(_ connection: AdoptedConnection) -> PoolMember? {
        while let member = loopForNewDataConnection() {
            if member.adopt(connection) { return member }
        }
        PosixDescriptor.close(connection.fd)
        return nil
    }
}
