import Posix

/// A local connection (a control connection, or a data connection accepted on a listener or connected for active
/// mode) on its way to the forwarding loop that will open its channel. The receiving loop owns `fd` from then on.
struct AdoptedConnection: Sendable {
    let fd: Int32
    let peer: String
    let peerPort: Int
    /// The local port it arrived on (for log lines).
    let localPort: Int
    let target: ForwardTarget
    /// Active mode: told (on the receiving loop's thread) whether the channel opened; it relays the outcome to the
    /// loop whose control connection asked (`PoolMember.postReport`).
    var report: (@Sendable (ChannelOpenOutcome) -> Void)? = nil
    /// Counts the connection's bytes for its transfer line and `status`.
    var meter: TransferMeter? = nil
    /// A control connection: the receiving loop gives it the control filter, made for this local address (the one
    /// the client connected to).
    var controlArrivedOn: SocketAddress? = nil
}
