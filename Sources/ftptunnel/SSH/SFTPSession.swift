import CLibSSH2
import FTPServerKit
import Foundation

/// One SFTP channel (protocol v3) on an SSH session that other threads' channels may share: every libssh2 call
/// goes through the session's `SessionGate` (the session in non-blocking mode). `call` and the path/handle
/// methods wait for the server's answer, bounded by `callTimeout`; `attempt…` try once. One thread uses a channel
/// (libssh2 1.10 keeps per-channel write state); keeps the session alive. Paths are raw bytes, as the server's
/// file system names them.
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
    /// Upper bound in seconds for each waiting call on this channel.
    var callTimeout = SFTPSession.defaultTimeout
    /// `callTimeout` until something else is set.
    static let defaultTimeout = 60.0

    /// Starts the `sftp` subsystem; throws `SFTPFailure` (e.g. the server offers no SFTP).
    init(session: SSHSession) throws {
        self.session = session
        session.setBlocking(false)
        let deadline = Monotonic.now() + SFTPSession.defaultTimeout
        handle = try SFTPFailure.wrap("libssh2_sftp_init", path: nil, sftp: nil, session: session.handle) {
            try session.gate.startingChannel(until: deadline) {
                try session.gate.perform("libssh2_sftp_init", until: deadline) {
                    try LibSSH2.callPointer(session.handle, "libssh2_sftp_init") { libssh2_sftp_init(session.handle) }
                }
            }
        }
    }

    /// One try at reading what waits in the session's socket into libssh2's queues (a zero-length read on this
    /// channel, which takes nothing from it), for channels whose threads are not reading; a broken connection
    /// throws and marks the session lost. For an idle channel only (no request in flight).
    func readTransport() throws {
        guard let channel = libssh2_sftp_get_channel(handle) else { return }
        var byte: CChar = 0
        _ = try noticingLoss {
            try SFTPFailure.wrap("libssh2_channel_read_ex", path: nil, sftp: nil, session: session.handle) {
                try session.gate.attempt("libssh2_channel_read_ex", until: Monotonic.now() + SFTPSession.readTransportWait) {
                    try LibSSH2.call(session.handle, "libssh2_channel_read_ex") { libssh2_channel_read_ex(channel, 0, &byte, 0) }
                }
            }
        }
    }

    /// Longest wait for the gate in `readTransport`.
    static let readTransportWait = 0.2

    /// Data for this channel already read from the socket and queued inside libssh2, which poll(2) does not see
    /// (counted as `SSHChannel.hasQueuedData` does). Inside the session's gate only: other threads' calls change
    /// libssh2's queues.
    var hasQueuedData: Bool {
        guard let channel = libssh2_sftp_get_channel(handle) else { return false }
        var queued: UInt = 0
        _ = libssh2_channel_window_read_ex(channel, &queued, nil)
        return queued > 0
    }

    /// Records that the SSH connection itself failed (seen on another channel of the same session).
    func markConnectionLost() {
        isConnectionLost = true
        callTimeout = SFTPSession.lostTimeout
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
        _ = try? session.gate.perform("libssh2_sftp_shutdown", until: Monotonic.now() + callTimeout) {
            try LibSSH2.call(session.handle, "libssh2_sftp_shutdown") { libssh2_sftp_shutdown(handle) }
        }
    }

    func markDesynchronized() { isDesynchronized = true }

    /// Runs one SFTP call returning a status or count through the gate until it is done (at most `callTimeout`).
    @discardableResult
    func call<T: BinaryInteger>(_ function: String, path: [UInt8]?, _ body: () -> T) throws -> T {
        try refuseIfDesynchronized(function, path: path)
        return try noticingLoss {
            try SFTPFailure.wrap(function, path: path, sftp: handle, session: session.handle) {
                try session.gate.perform(function, until: Monotonic.now() + callTimeout) {
                    try LibSSH2.call(session.handle, function, body)
                }
            }
        }
    }

    /// One try of an SFTP call through the gate: `.wouldBlock` when libssh2 would block; the same call must then be
    /// repeated with the same arguments.
    func attempt<T: BinaryInteger>(_ function: String, path: [UInt8]?, _ body: () -> T) throws -> SSHResult<T> {
        try refuseIfDesynchronized(function, path: path)
        return try noticingLoss {
            try SFTPFailure.wrap(function, path: path, sftp: handle, session: session.handle) {
                try session.gate.attempt(function, until: Monotonic.now() + callTimeout) {
                    try LibSSH2.call(session.handle, function, body)
                }
            }
        }
    }

    /// Runs `body`, recording a failure of the SSH connection itself in `isConnectionLost`; a broken or stuck
    /// connection (not just a closed channel) is marked lost on the gate, so every channel of it fails at once.
    private func noticingLoss<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let failure as SFTPFailure where failure.isConnectionLost {
            isConnectionLost = true
            // What is still called on it (closing handles, shutting the channel down) must not wait long.
            callTimeout = SFTPSession.lostTimeout
            if failure.breaksSession { session.gate.markLost("\(failure)") }
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

    /// `attributes(statPath)` and `openFile(openPath, …)` in one round trip instead of two: libssh2 keeps one
    /// state per kind of SFTP call (STAT and OPEN each, `sftp.c`), so the OPEN goes out while the STAT waits for its
    /// answer. A send that would block is repeated alone until it is out (the one-partial-packet rule, DESIGN §3);
    /// both calls are driven to their answers before this returns (one left waiting would take a later call's
    /// place). The stat's failure is returned (a missing file is an answer); the open's is thrown. Past
    /// `callTimeout` the channel is out of step and the connection taken as lost, as for any call.
    func attributes(_ statPath: [UInt8], followLinks: Bool = true, whileOpening openPath: [UInt8], flags: SFTPOpenFlags,
                    mode: Int = 0o644) throws -> (attributes: Result<SFTPAttributes, SFTPFailure>, handle: SFTPHandle) {
        let statFunction = followLinks ? "libssh2_sftp_stat_ex (stat)" : "libssh2_sftp_stat_ex (lstat)"
        let openFunction = "libssh2_sftp_open_ex (file)"
        try refuseIfDesynchronized(openFunction, path: openPath)
        let deadline = Monotonic.now() + callTimeout
        let statType = followLinks ? LIBSSH2_SFTP_STAT : LIBSSH2_SFTP_LSTAT
        var attrs = LIBSSH2_SFTP_ATTRIBUTES()
        var stat: Result<SFTPAttributes, SFTPFailure>?
        var opened: Result<SFTPHandle, SFTPFailure>?
        try withPath(statPath) { statText, statCount in
            try withPath(openPath) { openText, openCount in
                while stat == nil || opened == nil {
                    let since = session.gate.generation
                    if stat == nil {
                        do {
                            let result = try attemptUntilSent(statFunction, path: statPath, until: deadline) {
                                try LibSSH2.call(session.handle, statFunction) {
                                    libssh2_sftp_stat_ex(handle, statText, statCount, statType, &attrs)
                                }
                            }
                            if case .done = result { stat = .success(SFTPAttributes(attrs)) }
                        } catch let failure as SFTPFailure where !failure.isConnectionLost {
                            stat = .failure(failure)
                        }
                    }
                    if opened == nil {
                        do {
                            let result = try attemptUntilSent(openFunction, path: openPath, until: deadline) {
                                try LibSSH2.callPointer(session.handle, openFunction) {
                                    libssh2_sftp_open_ex(handle, openText, openCount, UInt(flags.rawValue), mode, LIBSSH2_SFTP_OPENFILE)
                                }
                            }
                            if case .done(let pointer) = result { opened = .success(SFTPHandle(handle: pointer, sftp: self, path: openPath)) }
                        } catch let failure as SFTPFailure where !failure.isConnectionLost {
                            opened = .failure(failure)
                        }
                    }
                    guard stat == nil || opened == nil else { break }
                    if !session.gate.waitForProgress(openFunction, since: since, until: deadline) {
                        markDesynchronized()
                        let failure = SFTPFailure(function: stat == nil ? statFunction : openFunction, path: stat == nil ? statPath : openPath,
                                                  code: LIBSSH2_ERROR_TIMEOUT, status: nil, message: "no answer within \(Int(callTimeout)) s")
                        try noticingLoss { () throws -> Void in throw failure }
                    }
                }
            }
        }
        guard let stat, let opened else { preconditionFailure("both calls answered") }
        return (stat, try opened.get())
    }

    /// One try of an SFTP call, repeated alone while it would block with its packet half sent; `.wouldBlock` once
    /// it only waits for the server's answer (then another call may send).
    private func attemptUntilSent<T>(_ function: String, path: [UInt8], until deadline: Double,
                                     _ body: () throws -> SSHResult<T>) throws -> SSHResult<T> {
        try noticingLoss {
            try SFTPFailure.wrap(function, path: path, sftp: handle, session: session.handle) {
                while true {
                    let since = session.gate.generation
                    let result = try session.gate.attempt(function, until: deadline, body)
                    guard case .wouldBlock = result, session.gate.isHeldByCurrentThread else { return result }
                    guard session.gate.waitForProgress(function, since: since, until: deadline) else {
                        session.gate.markLost("a packet stayed half sent past its deadline in \(function)")
                        throw LibSSH2Failure(function: function, code: LIBSSH2_ERROR_TIMEOUT, message: "a request stayed half sent")
                    }
                }
            }
        }
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
                try session.gate.perform(function, until: Monotonic.now() + callTimeout) {
                    try LibSSH2.callPointer(session.handle, function) {
                        libssh2_sftp_open_ex(handle, text, count, flags, mode, type)
                    }
                }
            } }
        }
        return SFTPHandle(handle: pointer, sftp: self, path: path)
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
