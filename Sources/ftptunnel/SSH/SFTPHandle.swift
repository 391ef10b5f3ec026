import CLibSSH2
import Foundation

/// One open SFTP file or directory handle; keeps its `SFTPSession` (and so the SSH session) alive.
/// Closed on `close()` or deinit. Blocking, same thread as the session.
final class SFTPHandle {
    let handle: OpaquePointer
    let sftp: SFTPSession
    let path: [UInt8]
    private var isClosed = false

    /// Longest name a directory entry may have (longer ones are reported by libssh2 as an error).
    static let maximumNameBytes = 1024

    init(handle: OpaquePointer, sftp: SFTPSession, path: [UInt8]) {
        self.handle = handle
        self.sftp = sftp
        self.path = path
    }

    deinit { close() }

    /// Closes the handle (pending read-ahead requests are discarded by libssh2). Errors are ignored: the handle
    /// is gone either way.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        // On a desynchronized channel the close would wait for an answer that never comes; libssh2 keeps the
        // handle's memory until the SFTP session is shut down.
        guard !sftp.isDesynchronized else { return }
        _ = try? sftp.call("libssh2_sftp_close_handle", path: path) { libssh2_sftp_close_handle(handle) }
    }

    /// Closes the handle and reports the server's answer (after writes: a failed close can mean lost data).
    func closeChecked() throws {
        guard !isClosed else { return }
        isClosed = true
        try sftp.call("libssh2_sftp_close_handle", path: path) { libssh2_sftp_close_handle(handle) }
    }

    /// Where the next read or write goes.
    func seek(to offset: Int64) { libssh2_sftp_seek64(handle, UInt64(max(0, offset))) }

    /// Reads up to `buffer.count` bytes; 0 at end of file. libssh2 keeps read-ahead requests in flight (up to
    /// 4 × the buffer size, at most 8 MiB), so large buffers keep the pipe full over long round trips.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = try sftp.call("libssh2_sftp_read", path: path) {
            libssh2_sftp_read(handle, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), buffer.count)
        }
        return Int(count)
    }

    /// Writes some of `buffer` and returns how many bytes the server acknowledged (≥ 1). libssh2 sends the
    /// whole buffer as requests at once and returns on the first acknowledgement; call again with the buffer
    /// advanced by the result (same bytes, more may be appended) until everything is acknowledged.
    func write(_ buffer: UnsafeRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        let count = try sftp.call("libssh2_sftp_write", path: path) {
            libssh2_sftp_write(handle, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), buffer.count)
        }
        return Int(count)
    }

    /// `write` without blocking (the session is in non-blocking mode): `.wouldBlock` when libssh2 would block, and
    /// then the next call on this channel must be this one again, with the same bytes (more may be appended).
    /// `.done(0)`: requests were sent, none acknowledged yet.
    func attemptWrite(_ buffer: UnsafeRawBufferPointer) throws -> SSHResult<Int> {
        guard buffer.count > 0 else { return .done(0) }
        let result = try sftp.attempt("libssh2_sftp_write", path: path) {
            libssh2_sftp_write(handle, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), buffer.count)
        }
        guard case .done(let count) = result else { return .wouldBlock }
        return .done(Int(count))
    }

    /// `closeChecked` without blocking: false when libssh2 would block (repeat until true).
    func attemptClose() throws -> Bool {
        guard !isClosed else { return true }
        do {
            guard case .done = try sftp.attempt("libssh2_sftp_close_handle", path: path, { libssh2_sftp_close_handle(handle) }) else {
                return false
            }
        } catch {
            isClosed = true  // libssh2 freed the handle
            throw error
        }
        isClosed = true
        return true
    }

    /// fsync@openssh.com; false when the server does not offer it.
    func sync() throws -> Bool {
        guard !isClosed else { return false }
        do {
            try sftp.call("libssh2_sftp_fsync", path: path) { libssh2_sftp_fsync(handle) }
            return true
        } catch let failure as SFTPFailure where failure.status == UInt(LIBSSH2_FX_OP_UNSUPPORTED) {
            return false
        }
    }

    /// The open file's attributes (fstat).
    func attributes() throws -> SFTPAttributes {
        var attrs = LIBSSH2_SFTP_ATTRIBUTES()
        try sftp.call("libssh2_sftp_fstat_ex", path: path) { libssh2_sftp_fstat_ex(handle, &attrs, 0) }
        return SFTPAttributes(attrs)
    }

    /// Truncates or extends the open file to `size` bytes (fsetstat).
    func setSize(_ size: UInt64) throws {
        var attrs = SFTPAttributes.settable(size: size)
        try sftp.call("libssh2_sftp_fstat_ex (setstat size)", path: path) { libssh2_sftp_fstat_ex(handle, &attrs, 1) }
    }

    /// The next directory entry (name bytes and attributes as the server sent them, not following symlinks),
    /// or nil at the end.
    func nextEntry() throws -> (name: [UInt8], attributes: SFTPAttributes)? {
        var name = [CChar](repeating: 0, count: SFTPHandle.maximumNameBytes)
        var attrs = LIBSSH2_SFTP_ATTRIBUTES()
        let length = try sftp.call("libssh2_sftp_readdir_ex", path: path) {
            libssh2_sftp_readdir_ex(handle, &name, name.count, nil, 0, &attrs)
        }
        guard length > 0 else { return nil }
        return (name.prefix(Int(length)).map { UInt8(bitPattern: $0) }, SFTPAttributes(attrs))
    }
}
