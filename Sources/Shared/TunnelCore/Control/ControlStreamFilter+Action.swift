import Logging
import FTPCore

extension ControlStreamFilter {
    /// Identifies one data endpoint (a passive listener or an active-mode connection) within one filter, i.e. one
    /// control connection. Numbers start at 1 and are never reused by the same filter.
    public struct DataID: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: Int
        public init(_ rawValue: Int) { self.rawValue = rawValue }
        public var description: String { "data#\(rawValue)" }
    }

    /// Address family of a local socket the tunnel opens for the client.
    public enum AddressFamily: Equatable, Sendable {
        /// 127.0.0.1 (or the configured IPv4 listen address).
        case ipv4
        /// ::1.
        case ipv6
    }

    /// What the forwarding loop must do, in order.
    public enum Action: Equatable, Sendable {
        /// Write these command lines (or pieces of over-long lines) to the FTP server's control channel, in order;
        /// framed, so the session keeper and the transfer tracker take them as they are.
        case sendToServer([ControlConversation.Unit])
        /// Write these bytes to the local FTP client's control connection.
        case sendToClient([UInt8])
        /// Open a one-shot listener on loopback (`family`) accepting one connection; on accept, open a channel to
        /// `target` (host as seen from the SSH server). Answer with `listenerOpened` or `listenerFailed`.
        case openPassiveListener(DataID, target: PassiveEndpoint, family: AddressFamily)
        /// Active mode: open a channel to `server` (the server's passive port) and connect to `client` (a loopback
        /// address the client listens on), then splice them. Answer with `activeConnected`, `activeConnectFailed` or `activeRefused`.
        case connectActive(DataID, server: PassiveEndpoint, client: PassiveEndpoint)
        /// The control stream has moved on (a newer data endpoint replaced this one): close its listener if it has
        /// not accepted yet. Connections already made (passive or active) run until either side closes them.
        case releaseData(DataID)
        /// Something worth telling the user or the debug log.
        case log(Logger.Level, String)
    }
}
