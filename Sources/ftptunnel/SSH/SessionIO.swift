import Foundation

/// The libssh2 session calls a `SessionLane` (and the loop and supervisor through it) makes: `SSHSession` in the
/// product, a scripted fake in the lane's unit tests (EAGAIN with the outbound direction blocked, short writes,
/// window exhaustion, channel failures). Class-bound, like `ChannelIO`.
protocol SessionIO: AnyObject {
    var socket: Int32 { get }
    /// Bytes libssh2 has taken from the socket so far.
    var bytesReceived: Int { get }
    /// Bytes the server sent so far, read by libssh2 or still waiting in the socket.
    var bytesArrived: Int { get }
    /// Bytes waiting in the socket for libssh2 to read.
    var unreadBytes: Int { get }
    var secondsSinceServerData: TimeInterval { get }
    /// Which directions the last EAGAIN was waiting for (outbound: a packet is half sent).
    var blockDirections: (inbound: Bool, outbound: Bool) { get }
    /// Room in the socket's send buffer for a small packet.
    var isWritable: Bool { get }
    func setBlocking(_ blocking: Bool)
    func configureProbes()
    /// `.done(false)` when libssh2's timer held the keepalive back.
    func sendKeepalive() throws -> SSHResult<Bool>
    /// Opens a `direct-tcpip` channel (RFC 4254 §7.2) with the given receive window.
    func openDirectTCPIPChannel(host: String, port: Int, originatorHost: String, originatorPort: Int,
                                window: Int, packetSize: Int) throws -> SSHResult<any ChannelIO>
    func disconnect(reason: String)
}

extension SSHSession: SessionIO {
    func openDirectTCPIPChannel(host: String, port: Int, originatorHost: String, originatorPort: Int,
                                window: Int, packetSize: Int) throws -> SSHResult<any ChannelIO> {
        switch try openDirectTCPIP(host: host, port: port, originatorHost: originatorHost, originatorPort: originatorPort,
                                   window: window, packetSize: packetSize) {
        case .done(let channel): return .done(channel)
        case .wouldBlock: return .wouldBlock
        }
    }
}
