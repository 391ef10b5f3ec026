import FTPServerKit
import Foundation
import Posix

/// Connections the listener has greeted itself and holds until the client sends its first byte: a client that
/// stays silent costs the listener a descriptor, not a login worker process (about 2.6 MiB PSS). The listener
/// still parses nothing a client sends: poll(2) says bytes are waiting, and the connection goes to a login worker
/// with them unread. A held connection counts as waiting to log in (`--max-prelogin`); at its login deadline it
/// gets 421 and is closed.
final class GreetedConnections {
    struct Held {
        let sessionID: Int
        /// The client's address ("" when unknown), for the per-address bound.
        let peer: String
        /// The login deadline (monotonic seconds), counted from the greeting.
        let deadline: Double
    }

    private let loginTimeout: Double
    private(set) var held: [Int32: Held] = [:]

    init(loginTimeout: Double) {
        self.loginTimeout = loginTimeout
    }

    var count: Int { held.count }
    func count(from peer: String) -> Int { held.values.reduce(0) { $0 + ($1.peer == peer ? 1 : 0) } }
    var nextDeadline: Double { held.values.map(\.deadline).min() ?? .infinity }
    /// Descriptors to poll: readable (the first command) or closed by the client.
    var descriptors: [Int32] { Array(held.keys) }

    /// Sends `greeting` on `client` (accepted just now: its socket buffer takes it without waiting) and holds the
    /// connection; false (the caller closes it) when the greeting could not be sent.
    func hold(_ client: Int32, sessionID: Int, peer: String, greeting: Reply) -> Bool {
        let wire = Array(greeting.wire.utf8)
        guard case .done(let sent)? = wire.withUnsafeBytes({ try? PosixSocket.sendNow(client, $0) }), sent == wire.count else {
            return false
        }
        held[client] = Held(sessionID: sessionID, peer: peer, deadline: Monotonic.now() + loginTimeout)
        return true
    }

    /// Stops holding `client` (it goes to a login worker or is closed by the caller).
    func release(_ client: Int32) -> Held? { held.removeValue(forKey: client) }

    /// Connections past their login deadline: 421 and closed.
    func expire(now: Double) {
        for (client, entry) in held where entry.deadline <= now {
            held.removeValue(forKey: client)
            FTPServer.refuse(client, "Login timeout (\(Int(loginTimeout)) s): closing control connection.")
            PosixDescriptor.close(client)
        }
    }

    /// Every held connection gets `text` as a 421 and is closed (the listener is shutting down).
    func closeAll(_ text: String) {
        for client in held.keys {
            FTPServer.refuse(client, text)
            PosixDescriptor.close(client)
        }
        held = [:]
    }
}
