import CLibSSH2
import FTPServerKit

/// A session channel running the `sftp` subsystem on which the bridge frames SFTP itself (`SFTPWire`), for the
/// extra streams of a striped upload. Kept between uploads with INIT done and no handle open, so the next upload
/// needs only an OPEN on it. One thread uses it; its libssh2 calls go through the session's `SessionGate`.
final class SFTPRawChannel {
    let channel: SSHChannel
    var session: SSHSession { channel.session }
    /// Replies received and not yet decoded.
    var reader = SFTPReplyReader()
    /// VERSION received: the server takes requests.
    var isInitialized = false
    /// Set when the stream may be out of step (a failure, a request without its reply): never kept, shut down.
    var isDesynchronized = false
    /// Upper bound in seconds for the shutdown's calls (shortened when the session is lost or the server hung).
    var callTimeout = SFTPSession.defaultTimeout
    private var lastID: UInt32 = 0
    private var isShutDown = false

    /// The receive window asked for: replies to writes are 28 bytes each, so this is never the limit.
    static let receiveWindow = 256 * 1024
    static let packetSize = 32768

    init(channel: SSHChannel) { self.channel = channel }

    /// A channel dropped without `shutDown` (a link forgetting its kept channels) is shut down here: on a shared SSH
    /// session nothing else would end it, and the server would keep its subsystem running.
    deinit { shutDown() }

    /// A request id not used on this channel before.
    func takeID() -> UInt32 {
        lastID &+= 1
        return lastID
    }

    /// Closes and frees the channel (the server then closes the files this stream held open), through the gate,
    /// each call bounded by `callTimeout`; at once when the session is lost. Idempotent.
    func shutDown() {
        guard !isShutDown else { return }
        isShutDown = true
        let gate = session.gate
        if !channel.closeCompleted {
            channel.closeCompleted = true
            _ = try? gate.perform("libssh2_channel_close", until: Monotonic.now() + callTimeout) { try channel.close() }
        }
        _ = try? gate.perform("libssh2_channel_free", until: Monotonic.now() + callTimeout) { try channel.free() }
    }
}
