import CPosix
#if canImport(Glibc)
import Glibc
#endif

/// AF_UNIX stream sockets (a tool's control socket) and the directory checks around them, through the `Posix`
/// choke point.
public enum PosixLocalSocket {
    /// sun_path's size, terminating NUL included.
    public static let maximumPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path)

    /// A close-on-exec AF_UNIX stream socket.
    public static func make(nonBlocking: Bool) throws(PosixError) -> Int32 {
        var type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        return try Posix.callBlocking("socket AF_UNIX") { socket(AF_UNIX, type, 0) }
    }

    /// A non-blocking socket bound to `path` with `mode` and listening. EADDRINUSE when the path exists.
    public static func listen(path: String, mode: mode_t, backlog: Int32 = 8) throws(PosixError) -> Int32 {
        let fd = try make(nonBlocking: true)
        do throws(PosixError) {
            try Posix.callBlocking("bind \(path)") { withAddress(path) { bind(fd, $0, $1) } }
            try Posix.callBlocking("chmod \(path)") { chmod(path, mode) }
            try Posix.callBlocking("listen \(path)") { Glibc.listen(fd, backlog) }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// A blocking connection to the socket at `path` (ECONNREFUSED: nobody listens there any more).
    public static func connect(path: String) throws(PosixError) -> Int32 {
        let fd = try make(nonBlocking: false)
        do throws(PosixError) {
            try Posix.callBlocking("connect \(path)") { withAddress(path) { Glibc.connect(fd, $0, $1) } }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// The uid and pid of the process at the other end (SO_PEERCRED), nil if the kernel does not say.
    public static func peer(_ fd: Int32) -> (uid: uid_t, pid: pid_t)? {
        var uid: uid_t = 0
        var pid: pid_t = 0
        guard (try? Posix.callBlocking("getsockopt SO_PEERCRED", { cposix_peer_credentials(fd, &uid, &pid) })) != nil else { return nil }
        return (uid, pid)
    }

    /// unlink(2) of the socket file.
    public static func remove(path: String) throws(PosixError) {
        try Posix.callBlocking("unlink \(path)") { unlink(path) }
    }

    /// mkdir(2); EEXIST when it exists.
    public static func makeDirectory(_ path: String, mode: mode_t) throws(PosixError) {
        try Posix.callBlocking("mkdir \(path)") { mkdir(path, mode) }
    }

    /// lstat(2): the entry itself, never a symlink's target.
    public static func linkStatus(_ path: String) throws(PosixError) -> stat {
        var info = stat()
        try Posix.callBlocking("lstat \(path)") { lstat(path, &info) }
        return info
    }

    /// Names in a directory (at most `limit`), without `.` and `..`.
    public static func names(in path: String, limit: Int) throws(PosixError) -> [String] {
        let fd = try Posix.callBlocking("open \(path)") { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        return try PosixFile.directoryNames(fd, limit: limit).map { String(decoding: $0, as: UTF8.self) }
    }

    private static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) -> T {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8.prefix(maximumPathLength - 1))
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }
}
