import CLibSSH2
import FTPServerKit

/// A session channel running the `sftp` subsystem on which the bridge frames SFTP itself (`SFTPWire`), for the
/// extra streams of a striped upload. Kept between uploads with INIT done and no handle open, so the next upload
/// needs only an OPEN on it; a kept one also carries a replacing rename (`perform`) and large downloads
/// (`SFTPRawDownload`). One thread uses it; its libssh2 calls go through the session's `SessionGate`.
final class SFTPRawChannel {
    let channel: SSHChannel
    var session: SSHSession { channel.session }
    /// Replies received and not yet decoded.
    var reader = SFTPReplyReader()
    /// VERSION received: the server takes requests.
    var isInitialized = false
    /// The extensions the server's VERSION offered (`SFTPWire.fsyncExtension`, `SFTPWire.posixRenameExtension` …).
    var extensions: Set<String> = []
    /// Set when the stream may be out of step (a failure, a request without its reply): never kept, shut down.
    var isDesynchronized = false
    /// Upper bound in seconds for the shutdown's calls (shortened when the session is lost or the server hung).
    var callTimeout = SFTPSession.defaultTimeout
    private var lastID: UInt32 = 0
    private var isShutDown = false

    /// The receive window asked for: above what a raw download keeps in flight (`SFTPRawDownload.window`), so the
    /// reads in flight are the limit, never the window (replies to writes are 28 bytes each).
    static let receiveWindow = 24 << 20
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

    /// Opens a session channel on `session`, starts its `sftp` subsystem and exchanges INIT and VERSION, blocking
    /// (every call through the gate, the open in its channel-start turn) for at most `timeout` seconds. A refused
    /// channel (sshd's MaxSessions) throws an `SFTPFailure` that is not a connection loss.
    static func start(on session: SSHSession, timeout: Double = SFTPSession.defaultTimeout) throws -> SFTPRawChannel {
        let deadline = Monotonic.now() + timeout
        let gate = session.gate
        let function = "libssh2_channel_open_ex (session)"
        let channel: SSHChannel
        do {
            channel = try gate.startingChannel(until: deadline) {
                try gate.perform(function, until: deadline) {
                    try session.openSessionChannel(window: receiveWindow, packetSize: packetSize)
                }
            }
        } catch let failure as LibSSH2Failure {
            throw SFTPFailure(function: function, path: nil, code: failure.code, status: nil, message: failure.message)
        }
        let raw = SFTPRawChannel(channel: channel)
        try raw.exchange(function: "SFTP start", path: []) {
            try gate.perform("libssh2_channel_process_startup (subsystem sftp)", until: deadline) { try channel.startSubsystem("sftp") }
            try raw.send(SFTPWire.initRequest(), function: "SFTP INIT", until: deadline)
            guard case .version(_, let extensions) = try raw.reply(function: "SFTP INIT", until: deadline) else {
                throw SFTPWireError(description: "the SFTP server did not answer INIT with VERSION")
            }
            raw.extensions = Set(extensions)
            raw.isInitialized = true
        }
        return raw
    }

    /// Sends one request and waits for its STATUS, throwing an `SFTPFailure` with the server's status unless it is
    /// OK: only on a kept channel (initialized, nothing in flight, nothing unread). Every libssh2 call goes through
    /// the gate; all of it is bounded by `callTimeout`. Any STATUS leaves the channel in step (the caller may keep
    /// it); any other failure leaves it `isDesynchronized` (shut it down).
    func perform(_ request: [UInt8], id: UInt32, function: String, path: [UInt8]) throws {
        let reply = try call(request, id: id, function: function, path: path)
        guard case .status(_, let code, let message) = reply else {
            isDesynchronized = true
            throw SFTPFailure(function: function, path: path, code: LIBSSH2_ERROR_SFTP_PROTOCOL, status: nil,
                              message: "the SFTP server answered \(function) with \(reply)")
        }
        guard code == SFTPWire.statusOK else {
            throw SFTPFailure(function: function, path: path, code: LIBSSH2_ERROR_SFTP_PROTOCOL, status: UInt(code),
                              message: message.isEmpty ? "SFTP status \(code)" : message)
        }
    }

    /// Sends one request and returns its reply (any type, for request `id`): only on a channel with nothing in
    /// flight and nothing unread. Blocking, through the gate, bounded by `callTimeout`; a failure (a reply to
    /// another id included) leaves the channel out of step.
    func call(_ request: [UInt8], id: UInt32, function: String, path: [UInt8]) throws -> SFTPReply {
        precondition(isInitialized && !isDesynchronized && reader.pending == 0)
        let deadline = Monotonic.now() + callTimeout
        return try exchange(function: function, path: path) {
            try send(request, function: function, until: deadline)
            let reply = try self.reply(function: function, until: deadline)
            guard reply.id == id else {
                throw SFTPWireError(description: "the SFTP server answered request \(reply.id.map(String.init) ?? "none") to \(function) (request \(id))")
            }
            return reply
        }
    }

    /// Runs blocking calls on this channel; any failure leaves it out of step and becomes an `SFTPFailure`.
    private func exchange<T>(function: String, path: [UInt8], _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let failure as LibSSH2Failure {
            isDesynchronized = true
            throw SFTPFailure(function: function, path: path, code: failure.code, status: nil, message: failure.message)
        } catch let failure as SFTPWireError {
            isDesynchronized = true
            throw SFTPFailure(function: function, path: path, code: LIBSSH2_ERROR_SFTP_PROTOCOL, status: nil, message: failure.description)
        } catch {
            isDesynchronized = true
            throw error
        }
    }

    /// Writes all of `request`, waiting (through the gate) for window until `deadline`.
    private func send(_ request: [UInt8], function: String, until deadline: Double) throws {
        let gate = session.gate
        let channel = channel
        try request.withUnsafeBytes { bytes in
            var sent = 0
            while sent < bytes.count {
                let rest = UnsafeRawBufferPointer(rebasing: bytes[sent...])
                let since = gate.generation
                let count = try gate.perform("libssh2_channel_write_ex (\(function))", until: deadline) { try channel.write(rest) }
                sent += count
                if count == 0, !gate.waitForProgress(function, since: since, until: deadline) {
                    throw LibSSH2Failure(function: function, code: LIBSSH2_ERROR_TIMEOUT, message: "no send window before the deadline")
                }
            }
        }
    }

    /// The next reply, read (through the gate) until `deadline`.
    private func reply(function: String, until deadline: Double) throws -> SFTPReply {
        let gate = session.gate
        let channel = channel
        var scratch = [UInt8](repeating: 0, count: 4096)
        while true {
            if let reply = try reader.next() { return reply }
            let since = gate.generation
            let count = try scratch.withUnsafeMutableBytes { buffer in
                try gate.perform("libssh2_channel_read_ex (\(function))", until: deadline) { try channel.read(into: buffer) }
            }
            if count > 0 {
                scratch.withUnsafeBytes { reader.feed(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                continue
            }
            if try gate.perform("libssh2_channel_eof", until: deadline, { .done(channel.isEOF) }) {
                throw SFTPWireError(description: "the SFTP server closed the stream")
            }
            guard gate.waitForProgress(function, since: since, until: deadline) else {
                throw LibSSH2Failure(function: function, code: LIBSSH2_ERROR_TIMEOUT, message: "no answer before the deadline")
            }
        }
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
