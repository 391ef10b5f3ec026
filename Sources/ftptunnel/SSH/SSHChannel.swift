import CLibSSH2

/// One libssh2 channel. Holds its session strongly (a channel must never outlive it).
/// Every call is non-blocking and returns `.wouldBlock` on EAGAIN; the forwarding loop applies the
/// pending-send rule (DESIGN 3.3) around these calls.
final class SSHChannel {
    let handle: ChannelHandle
    let session: SSHSession
    private var freed = false
    /// `close` completed (or failed at channel level): only `free` remains.
    var closeCompleted = false

    init(handle: ChannelHandle, session: SSHSession) {
        self.handle = handle
        self.session = session
    }

    /// Reads into `buffer`; `.done(0)` means no data now *or* end of stream: ask `isEOF`.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> SSHResult<Int> {
        try LibSSH2.call(session.handle, "libssh2_channel_read_ex") {
            libssh2_channel_read_ex(handle, 0, buffer.baseAddress?.assumingMemoryBound(to: CChar.self), buffer.count)
        }
    }

    /// Writes from `buffer`; returns bytes accepted (possibly fewer than offered).
    func write(_ buffer: UnsafeRawBufferPointer) throws -> SSHResult<Int> {
        try LibSSH2.call(session.handle, "libssh2_channel_write_ex") {
            libssh2_channel_write_ex(handle, 0, buffer.baseAddress?.assumingMemoryBound(to: CChar.self), buffer.count)
        }
    }

    var isEOF: Bool { libssh2_channel_eof(handle) != 0 }

    /// Data for this channel already received and queued inside libssh2 (no I/O, sends nothing). Such data does
    /// not make the SSH socket readable again. Not `libssh2_poll_channel_read`: in libssh2 1.10 it returns an error
    /// at the first queued packet shorter than 5 bytes, such as a keepalive reply (see `ServerAliveMonitor`).
    /// Walks every packet libssh2 holds for the session (thousands behind a large window): not for a per-read
    /// caller, which learns the same from a read that returned less than it offered.
    var hasQueuedData: Bool {
        var queued: UInt = 0
        _ = libssh2_channel_window_read_ex(handle, &queued, nil)
        return queued > 0
    }

    /// Receive window still granted to the server and not yet read (libssh2 1.10 counts it down as the channel is
    /// read, not as data arrives): constant time.
    var receiveWindowLeft: Int { Int(libssh2_channel_window_read_ex(handle, nil, nil)) }

    /// Grants the server `bytes` more receive window now (a window-adjust packet: a sending call).
    func grantWindow(_ bytes: Int) throws -> SSHResult<Void> {
        var window: UInt32 = 0
        return try map(LibSSH2.call(session.handle, "libssh2_channel_receive_window_adjust2") {
            libssh2_channel_receive_window_adjust2(handle, UInt(bytes), 1, &window)
        })
    }

    /// Starts a subsystem (e.g. `sftp`) on a session channel and waits for the server's answer; per-channel state,
    /// so several channels may start at once. Repeat until `.done`.
    func startSubsystem(_ name: String) throws -> SSHResult<Void> {
        let request = "subsystem"
        return try map(LibSSH2.call(session.handle, "libssh2_channel_process_startup (subsystem \(name))") {
            libssh2_channel_process_startup(handle, request, UInt32(request.utf8.count), name, UInt32(name.utf8.count))
        })
    }

    /// Send window the server has granted and this side has not used yet (no I/O).
    var sendWindowLeft: Int { Int(libssh2_channel_window_write_ex(handle, nil)) }

    func sendEOF() throws -> SSHResult<Void> {
        try map(LibSSH2.call(session.handle, "libssh2_channel_send_eof") { libssh2_channel_send_eof(handle) })
    }

    /// Has libssh2 read every packet waiting on the session's socket into its queues, without reading this channel
    /// and without granting any window (`libssh2_channel_wait_eof`): `.done` once this channel's EOF has arrived
    /// (it stops reading there), `.wouldBlock` once the socket is empty (or a reply libssh2 sends by itself is half
    /// sent). What it may queue is bounded by the windows already granted. A session whose server is gone ends here
    /// with a thrown session-level failure.
    func drainSession() throws -> SSHResult<Void> {
        try map(LibSSH2.call(session.handle, "libssh2_channel_wait_eof") { libssh2_channel_wait_eof(handle) })
    }

    func close() throws -> SSHResult<Void> {
        try map(LibSSH2.call(session.handle, "libssh2_channel_close") { libssh2_channel_close(handle) })
    }

    /// Frees the channel (after `close` completed). Idempotent.
    func free() throws -> SSHResult<Void> {
        guard !freed else { return .done(()) }
        let result = try map(LibSSH2.call(session.handle, "libssh2_channel_free") { libssh2_channel_free(handle) })
        if case .done = result { freed = true }
        return result
    }

    private func map(_ result: SSHResult<Int32>) -> SSHResult<Void> {
        switch result {
        case .done: return .done(())
        case .wouldBlock: return .wouldBlock
        }
    }

    // No deinit free: the lane closes and frees every channel under the pending-send rule; a channel still
    // unfreed when its lane is abandoned goes with its session (libssh2_session_free frees every channel, and
    // this object keeps the session alive until then).
}
