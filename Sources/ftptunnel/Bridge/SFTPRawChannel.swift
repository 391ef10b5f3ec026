import CLibSSH2

/// A session channel running the `sftp` subsystem on which the bridge frames SFTP itself (`SFTPWire`), for the
/// extra streams of a striped upload. Kept between uploads with INIT done and no handle open, so the next upload
/// needs only an OPEN on it. Same thread as its session.
final class SFTPRawChannel {
    let channel: SSHChannel
    var session: SSHSession { channel.session }
    /// Replies received and not yet decoded.
    var reader = SFTPReplyReader()
    /// VERSION received: the server takes requests.
    var isInitialized = false
    /// Set when the stream may be out of step (a failure, a request without its reply): never kept, shut down.
    var isDesynchronized = false
    private var lastID: UInt32 = 0

    /// The receive window asked for: replies to writes are 28 bytes each, so this is never the limit.
    static let receiveWindow = 256 * 1024
    static let packetSize = 32768

    init(channel: SSHChannel) { self.channel = channel }

    /// A request id not used on this channel before.
    func takeID() -> UInt32 {
        lastID &+= 1
        return lastID
    }

    /// Closes and frees the channel with the session in blocking mode (the server then closes the files this
    /// stream held open). Bounded by the session's timeout.
    func shutDown() {
        if !channel.closeCompleted {
            channel.closeCompleted = true
            _ = try? channel.close()
        }
        _ = try? channel.free()
    }
}
