import CLibSSH2
import Foundation

/// The SFTP subsystem (protocol v3) on one SSH session, in blocking mode: every call waits for the server's
/// answer, bounded by the session's timeout (`SSHSession.setTimeout`). Same thread as its session; keeps the
/// session alive. Paths are raw bytes, as the server's file system names them.
final class SFTPSession {
    let session: SSHSession
    let handle: OpaquePointer
    /// Set after a failed pipelined write: libssh2 1.10 drops the requests still queued, possibly one it had sent
    /// in part, so the server may read later requests as the rest of it. Nothing more is sent on this channel
    /// (every call fails at once); the store opens a fresh one (`SFTPFileStore.reopenChannel`).
    private(set) var isDesynchronized = false
    /// Set when a call failed because the SSH connection itself is gone or stuck (`SFTPFailure.isConnectionLost`):
    /// the bridge's `SFTPLink` then replaces the SSH session before the next command.
    private(set) var isConnectionLost = false
    private var isShutDown = false

    /// Starts the `sftp` subsystem; throws `SFTPFailure` (e.g. the server offers no SFTP).
    init(session: SSHSession) throws {
        self.session = session
        session.setBlocking(true)
        guard case .done(let sftp) = try SFTPFailure.wrap("libssh2_sftp_init", path: nil, sftp: nil, session: session.handle, {
            try LibSSH2.callPointer(session.handle, "libssh2_sftp_init") { libssh2_sftp_init(session.handle) }
        }) else { throw SFTPFailure(function: "libssh2_sftp_init", path: nil, code: LIBSSH2_ERROR_EAGAIN, status: nil, message: "would block") }
        handle = sftp
    }

    /// Data for this channel already read from the socket and queued inside libssh2 (poll(2) does not see it).
    var hasQueuedData: Bool {
        guard let channel = libssh2_sftp_get_channel(handle) else { return false }
        return libssh2_poll_channel_read(channel, 0) != 0
    }

    /// Records that the SSH connection itself failed (seen on another channel of the same session).
    func markConnectionLost() {
        isConnectionLost = true
        session.setTimeout(seconds: SFTPSession.lostTimeout)
    }

    /// Shut down here (every `SFTPHandle` keeps its `SFTPSession` alive, so no handle outlives it), or earlier by
    /// `shutDownDesynchronized()`.
    deinit { shutDown() }

    /// Closes a desynchronized channel now, so the server ends its side (and closes the files it held open, e.g. a
    /// half-written upload that still takes disk space). Its handles make no libssh2 call any more.
    func shutDownDesynchronized() {
        guard isDesynchronized else { return }
        shutDown()
    }

    private func shutDown() {
        guard !isShutDown else { return }
        isShutDown = true
        _ = try? LibSSH2.callBlocking(session.handle, "libssh2_sftp_shutdown") { libssh2_sftp_shutdown(handle) }
    }

    func markDesynchronized() { isDesynchronized = true }

    /// Runs one blocking SFTP call returning a status or count through the libssh2 choke point.
    @discardableResult
    func call<T: BinaryInteger>(_ function: String, path: [UInt8]?, _ body: () -> T) throws -> T {
        try refuseIfDesynchronized(function, path: path)
        return try noticingLoss {
            try SFTPFailure.wrap(function, path: path, sftp: handle, session: session.handle) {
                try LibSSH2.callBlocking(session.handle, function, body)
            }
        }
    }

    /// Runs one non-blocking SFTP call (the session is in non-blocking mode): `.wouldBlock` when libssh2 would
    /// block; the same call must then be repeated with the same arguments.
    func attempt<T: BinaryInteger>(_ function: String, path: [UInt8]?, _ body: () -> T) throws -> SSHResult<T> {
        try refuseIfDesynchronized(function, path: path)
        return try noticingLoss {
            try SFTPFailure.wrap(function, path: path, sftp: handle, session: session.handle) {
                try LibSSH2.call(session.handle, function, body)
            }
        }
    }

    /// Runs `body`, recording a failure of the SSH connection itself in `isConnectionLost`.
    private func noticingLoss<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let failure as SFTPFailure where failure.isConnectionLost {
            isConnectionLost = true
            // What is still called on it (closing handles, shutting the channel down) must not wait long.
            session.setTimeout(seconds: SFTPSession.lostTimeout)
            throw failure
        }
    }

    // MARK: Paths

    /// The server's canonical absolute form of `path` (realpath; `.` is the login directory).
    func realPath(_ path: [UInt8]) throws -> [UInt8] {
        var buffer = [CChar](repeating: 0, count: SFTPSession.maximumPathBytes)
        let length = try withPath(path) { text, count in
            try call("libssh2_sftp_symlink_ex (realpath)", path: path) {
                libssh2_sftp_symlink_ex(handle, text, count, &buffer, UInt32(buffer.count), LIBSSH2_SFTP_REALPATH)
            }
        }
        return buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }
    }

    /// Attributes of `path`, following a final symlink unless `followLinks` is false.
    func attributes(_ path: [UInt8], followLinks: Bool = true) throws -> SFTPAttributes {
        var attrs = LIBSSH2_SFTP_ATTRIBUTES()
        try withPath(path) { text, count in
            try call(followLinks ? "libssh2_sftp_stat_ex (stat)" : "libssh2_sftp_stat_ex (lstat)", path: path) {
                libssh2_sftp_stat_ex(handle, text, count, followLinks ? LIBSSH2_SFTP_STAT : LIBSSH2_SFTP_LSTAT, &attrs)
            }
        }
        return SFTPAttributes(attrs)
    }

    /// SETSTAT: permission bits and/or modification time (the access time is set to the same value).
    func setAttributes(_ path: [UInt8], permissions: UInt32? = nil, modified: Int? = nil) throws {
        var attrs = SFTPAttributes.settable(permissions: permissions, modified: modified)
        try withPath(path) { text, count in
            try call("libssh2_sftp_stat_ex (setstat)", path: path) {
                libssh2_sftp_stat_ex(handle, text, count, LIBSSH2_SFTP_SETSTAT, &attrs)
            }
        }
    }

    /// Truncates or extends `path` to `size` bytes (SETSTAT size).
    func setSize(_ path: [UInt8], _ size: UInt64) throws {
        var attrs = SFTPAttributes.settable(size: size)
        try withPath(path) { text, count in
            try call("libssh2_sftp_stat_ex (setstat size)", path: path) {
                libssh2_sftp_stat_ex(handle, text, count, LIBSSH2_SFTP_SETSTAT, &attrs)
            }
        }
    }

    func makeDirectory(_ path: [UInt8], mode: Int = 0o755) throws {
        try withPath(path) { text, count in
            try call("libssh2_sftp_mkdir_ex", path: path) { libssh2_sftp_mkdir_ex(handle, text, count, mode) }
        }
    }

    func removeDirectory(_ path: [UInt8]) throws {
        try withPath(path) { text, count in
            try call("libssh2_sftp_rmdir_ex", path: path) { libssh2_sftp_rmdir_ex(handle, text, count) }
        }
    }

    func removeFile(_ path: [UInt8]) throws {
        try withPath(path) { text, count in
            try call("libssh2_sftp_unlink_ex", path: path) { libssh2_sftp_unlink_ex(handle, text, count) }
        }
    }

    /// SFTP v3 rename: refuses an existing target (OpenSSH has no overwrite in v3; libssh2 1.10 sends no
    /// posix-rename@openssh.com).
    func rename(_ source: [UInt8], to target: [UInt8]) throws {
        try withPath(source) { from, fromCount in
            try withPath(target) { to, toCount in
                try call("libssh2_sftp_rename_ex", path: source) {
                    libssh2_sftp_rename_ex(handle, from, fromCount, to, toCount, 0)
                }
            }
        }
    }

    // MARK: Handles

    /// Opens a file with `LIBSSH2_FXF_*` flags (see `SFTPOpenFlags`).
    func openFile(_ path: [UInt8], flags: SFTPOpenFlags, mode: Int = 0o644) throws -> SFTPHandle {
        try open(path, flags: UInt(flags.rawValue), mode: mode, type: LIBSSH2_SFTP_OPENFILE, function: "libssh2_sftp_open_ex (file)")
    }

    func openDirectory(_ path: [UInt8]) throws -> SFTPHandle {
        try open(path, flags: 0, mode: 0, type: LIBSSH2_SFTP_OPENDIR, function: "libssh2_sftp_open_ex (directory)")
    }

    private func refuseIfDesynchronized(_ function: String, path: [UInt8]?) throws {
        guard isDesynchronized else { return }
        throw SFTPFailure(function: function, path: path, code: LIBSSH2_ERROR_CHANNEL_CLOSED, status: nil,
                          message: "the SFTP channel is out of step after a failed write")
    }

    private func open(_ path: [UInt8], flags: UInt, mode: Int, type: Int32, function: String) throws -> SFTPHandle {
        try refuseIfDesynchronized(function, path: path)
        let pointer = try withPath(path) { text, count in
            try noticingLoss { try SFTPFailure.wrap(function, path: path, sftp: handle, session: session.handle) {
                try LibSSH2.callPointer(session.handle, function) {
                    libssh2_sftp_open_ex(handle, text, count, flags, mode, type)
                }
            } }
        }
        guard case .done(let file) = pointer else {
            throw SFTPFailure(function: function, path: path, code: LIBSSH2_ERROR_EAGAIN, status: nil, message: "would block")
        }
        return SFTPHandle(handle: file, sftp: self, path: path)
    }

    /// Seconds a call may block once the connection is known lost.
    static let lostTimeout = 2.0

    /// Longest path the bridge reads back from the server (realpath).
    static let maximumPathBytes = 4096

    @discardableResult
    private func withPath<T>(_ path: [UInt8], _ body: (UnsafePointer<CChar>, UInt32) throws -> T) throws -> T {
        var terminated = path
        terminated.append(0)
        return try terminated.withUnsafeBufferPointer { bytes in
            try bytes.baseAddress!.withMemoryRebound(to: CChar.self, capacity: bytes.count) { text in
                try body(text, UInt32(path.count))
            }
        }
    }
}

/// `LIBSSH2_FXF_*` open flags. There is deliberately no APPEND: libssh2 1.10 with OpenSSH writes at offset 0
/// with it; appending is a stat and writes at the size.
struct SFTPOpenFlags: OptionSet {
    let rawValue: Int32
    static let read = SFTPOpenFlags(rawValue: LIBSSH2_FXF_READ)
    static let write = SFTPOpenFlags(rawValue: LIBSSH2_FXF_WRITE)
    static let create = SFTPOpenFlags(rawValue: LIBSSH2_FXF_CREAT)
    static let truncate = SFTPOpenFlags(rawValue: LIBSSH2_FXF_TRUNC)
    static let exclusive = SFTPOpenFlags(rawValue: LIBSSH2_FXF_EXCL)
}
