import CPosix
#if canImport(Glibc)
import Glibc
#endif

/// File-system calls through the `Posix` choke point: descriptor-relative (`*at`) only, so that callers holding a
/// directory descriptor never go back to a string path after a check. Descriptors are plain `Int32`s owned by the
/// caller.
public enum PosixFile {
    /// openat2(2) resolution: `..`, absolute paths and absolute symlinks stay inside the directory `dirfd` names,
    /// as if it were `/` (RESOLVE_IN_ROOT); /proc-style magic links are refused (RESOLVE_NO_MAGICLINKS).
    public static let inRoot = cposix_resolve_in_root | cposix_resolve_no_magiclinks

    /// O_TMPFILE: an unnamed regular file in a directory, linked into place with `linkTemporary` or gone on close.
    public static let temporaryFileFlag = cposix_o_tmpfile

    /// O_PATH: a descriptor that only names a file or directory (for `*at` calls and fstat), no read access needed.
    public static let pathOnly = cposix_o_path

    /// openat2(2) of `path` relative to `dirfd` (close-on-exec is added). Linux ≥ 5.6.
    public static func openInRoot(_ dirfd: Int32, _ path: String, flags: Int32, mode: mode_t = 0) throws(PosixError) -> Int32 {
        try Posix.callBlocking("openat2 \(path)") {
            PathName.withCString(path) { cposix_openat2(dirfd, $0, UInt64(UInt32(bitPattern: flags | O_CLOEXEC)), UInt64(mode), inRoot) }
        }
    }

    /// open(2) of a host path the operator gave (a session root, a users file), close-on-exec; `mode` for O_CREAT.
    public static func open(_ path: String, flags: Int32, mode: mode_t = 0) throws(PosixError) -> Int32 {
        try Posix.callBlocking("open \(path)") { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    /// rename(2) of host paths the operator gave.
    public static func rename(_ from: String, to: String) throws(PosixError) {
        try Posix.callBlocking("rename \(from) \(to)") { Glibc.rename(from, to) }
    }

    /// unlink(2) of a host path the operator gave.
    public static func remove(_ path: String) throws(PosixError) {
        try Posix.callBlocking("unlink \(path)") { Glibc.unlink(path) }
    }

    /// fstat(2).
    public static func status(_ fd: Int32) throws(PosixError) -> stat {
        var info = stat()
        try Posix.callBlocking("fstat") { fstat(fd, &info) }
        return info
    }

    /// fstatat(2) of `name` in `dirfd`, never following a final symlink.
    public static func linkStatus(_ dirfd: Int32, _ name: String) throws(PosixError) -> stat {
        var info = stat()
        try Posix.callBlocking("fstatat \(name)") { PathName.withCString(name) { fstatat(dirfd, $0, &info, AT_SYMLINK_NOFOLLOW) } }
        return info
    }

    public static func makeDirectory(_ dirfd: Int32, _ name: String, mode: mode_t) throws(PosixError) {
        try Posix.callBlocking("mkdirat \(name)") { PathName.withCString(name) { mkdirat(dirfd, $0, mode) } }
    }

    /// unlinkat(2); `directory` removes an empty directory (AT_REMOVEDIR).
    public static func remove(_ dirfd: Int32, _ name: String, directory: Bool) throws(PosixError) {
        try Posix.callBlocking("unlinkat \(name)") { PathName.withCString(name) { unlinkat(dirfd, $0, directory ? AT_REMOVEDIR : 0) } }
    }

    public static func rename(_ fromDir: Int32, _ from: String, _ toDir: Int32, _ to: String) throws(PosixError) {
        try Posix.callBlocking("renameat \(from) \(to)") {
            PathName.withCString(from) { source in PathName.withCString(to) { renameat(fromDir, source, toDir, $0) } }
        }
    }

    /// Gives an O_TMPFILE descriptor the name `name` in `dirfd` (linkat through /proc/self/fd, which needs no
    /// CAP_DAC_READ_SEARCH unlike AT_EMPTY_PATH). Fails with EEXIST when the name is taken.
    public static func linkTemporary(_ fd: Int32, into dirfd: Int32, as name: String) throws(PosixError) {
        try Posix.callBlocking("linkat \(name)") {
            PathName.withCString(name) { linkat(AT_FDCWD, "/proc/self/fd/\(fd)", dirfd, $0, cposix_at_symlink_follow) }
        }
    }

    /// write(2) of the whole buffer to a blocking descriptor.
    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(PosixError) {
        var offset = 0
        while offset < buffer.count {
            offset += try Posix.callBlocking("write") { Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset) }
        }
    }

    /// read(2) from a blocking descriptor: `0` is end of file.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(PosixError) -> Int {
        try Posix.callBlocking("read") { Glibc.read(fd, buffer.baseAddress, buffer.count) }
    }

    /// glob(3) of a host path pattern (`~/.ssh/config.d/*`): the matching paths, sorted; none when nothing matches.
    public static func glob(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard Glibc.glob(pattern, 0, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }
    }

    /// write(2) of all of `bytes` to a blocking descriptor.
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(PosixError) {
        var failure: PosixError?
        bytes.withUnsafeBytes { buffer in
            do throws(PosixError) { try writeAll(fd, buffer) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// sendfile(2) from `file` at `offset` (advanced) to `out`; `.done(0)` means the file ended.
    public static func sendfile(_ out: Int32, _ file: Int32, offset: inout off_t, count: Int) throws(PosixError) -> IOResult<Int> {
        try Posix.call("sendfile") { Glibc.sendfile(out, file, &offset, count) }
    }

    public static func sync(_ fd: Int32) throws(PosixError) { try Posix.callBlocking("fsync") { fsync(fd) } }
    public static func truncate(_ fd: Int32, to size: Int64) throws(PosixError) {
        try Posix.callBlocking("ftruncate") { ftruncate(fd, off_t(size)) }
    }
    public static func changeMode(_ fd: Int32, _ mode: mode_t) throws(PosixError) {
        try Posix.callBlocking("fchmod") { fchmod(fd, mode) }
    }

    /// UTIME_OMIT of <sys/stat.h> (a macro Swift cannot import): "leave this time as it is".
    private static let utimeOmit = (1 << 30) - 2

    /// futimens(2): sets the modification time (seconds since the epoch), leaves the access time.
    public static func setModificationTime(_ fd: Int32, seconds: Int) throws(PosixError) {
        var times = [timespec(tv_sec: 0, tv_nsec: utimeOmit), timespec(tv_sec: seconds, tv_nsec: 0)]
        try Posix.callBlocking("futimens") { futimens(fd, &times) }
    }

    /// flock(2) LOCK_EX without blocking: false while another descriptor holds the lock.
    public static func tryLockExclusive(_ fd: Int32) throws(PosixError) -> Bool {
        switch try Posix.call("flock", { flock(fd, LOCK_EX | LOCK_NB) }) {
        case .done: return true
        case .wouldBlock: return false
        }
    }

    /// lseek(2) to `offset` from the start.
    public static func seek(_ fd: Int32, to offset: Int64) throws(PosixError) {
        _ = try Posix.callBlocking("lseek") { lseek(fd, off_t(offset), SEEK_SET) }
    }

    /// lseek(2) to the end: the file's size as this descriptor sees it.
    public static func seekToEnd(_ fd: Int32) throws(PosixError) -> Int64 {
        Int64(try Posix.callBlocking("lseek") { lseek(fd, 0, SEEK_END) })
    }

    /// The names in the open directory `directoryFD` (read through a duplicate, which fdopendir owns), at most
    /// `limit`, `.`/`..` left out. Names are raw bytes: they need not be UTF-8.
    public static func directoryNames(_ directoryFD: Int32, limit: Int) throws(PosixError) -> [[UInt8]] {
        let fd = try Posix.callBlocking("dup") { fcntl(directoryFD, F_DUPFD_CLOEXEC, 0) }
        guard let directory = fdopendir(fd) else {
            let code = errno
            close(fd)
            throw PosixError("fdopendir", code: code)
        }
        defer { closedir(directory) }
        var names: [[UInt8]] = []
        while names.count < limit, let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            names.append(name)
        }
        return names
    }
}
