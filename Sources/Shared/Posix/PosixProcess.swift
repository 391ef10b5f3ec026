import CPosix
#if canImport(Glibc)
import Glibc
#endif

/// Child processes through posix_spawn(3) (never a bare fork: the parent may run Foundation and threads).
public enum PosixProcess {
    /// Starts `arguments[0]` (`executable` is the file; with `searchPath`, a bare name is looked up in PATH like a
    /// shell does) with `stdinFD`/`stdoutFD` as its descriptors 0 and 1 (nil: ours) and stderr inherited; every
    /// other descriptor of ours is close-on-exec. The child starts with no blocked signals and default
    /// dispositions for `defaultSignals`, and with `environment` (nil: ours).
    /// `extraFDs` become the child's descriptors 3, 4, … in order.
    public static func spawn(_ executable: String, arguments: [String], environment: [String]? = nil,
                             stdinFD: Int32? = nil, stdoutFD: Int32? = nil, extraFDs: [Int32] = [],
                             defaultSignals: [Int32], searchPath: Bool = false) throws(PosixError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdinFD { posix_spawn_file_actions_adddup2(&actions, stdinFD, 0) }
        if let stdoutFD { posix_spawn_file_actions_adddup2(&actions, stdoutFD, 1) }
        for (index, fd) in extraFDs.enumerated() { posix_spawn_file_actions_adddup2(&actions, fd, 3 + Int32(index)) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in defaultSignals { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        var pid: pid_t = 0
        let start = searchPath ? posix_spawnp : posix_spawn
        let code = withCStringArray(arguments) { argv in
            guard let environment else { return start(&pid, executable, &actions, &attributes, argv, environ) }
            return withCStringArray(environment) { envp in start(&pid, executable, &actions, &attributes, argv, envp) }
        }
        guard code == 0 else { throw PosixError("posix_spawn \(executable)", code: code) }
        return pid
    }

    /// Our own environment as `NAME=value` strings.
    public static var currentEnvironment: [String] {
        var result: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            result.append(String(cString: pointer))
            entry += 1
        }
        return result
    }

    /// Reaps one exited child without blocking: its pid and wait status, nil when none has exited.
    public static func reapAny() -> (pid: pid_t, status: Int32)? {
        var status: Int32 = 0
        let pid = waitpid(-1, &status, WNOHANG)
        return pid > 0 ? (pid, status) : nil
    }

    /// At most `count` glibc malloc arenas in this process (mallopt M_ARENA_MAX). glibc gives each new thread that
    /// meets contention an arena of its own (up to 8 per core), each keeping freed memory of its own: for a
    /// process of many mostly idle threads a small shared pool costs far less. Call before starting threads.
    public static func limitMallocArenas(_ count: Int32) { _ = cposix_limit_malloc_arenas(count) }

    /// Gives the memory malloc holds free back to the kernel (malloc_trim): a long-lived process whose peak (a
    /// listing of a huge directory) is over keeps only what it uses.
    public static func releaseFreeMemory() { _ = cposix_release_free_memory() }

    /// A stream socket pair (AF_UNIX, both ends close-on-exec): one end for us, one for a child or another thread.
    public static func streamPair() throws(PosixError) -> (Int32, Int32) {
        var ends: [Int32] = [-1, -1]
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        try Posix.callBlocking("socketpair") { socketpair(AF_UNIX, type, 0, &ends) }
        return (ends[0], ends[1])
    }

    /// A pipe (both ends close-on-exec, blocking): (read end, write end), e.g. a child's stdout and ours to read it.
    public static func pipe() throws(PosixError) -> (read: Int32, write: Int32) {
        var ends: [Int32] = [-1, -1]
        try Posix.callBlocking("pipe2") { cposix_pipe(&ends, 0) }
        return (ends[0], ends[1])
    }

    /// Waits at most `milliseconds` for our child `pid` to exit and reaps it: its exit status (128+N when killed by
    /// signal N), or nil when it still runs at the deadline. Uses a pidfd, so the wait is one poll(2).
    public static func waitExit(_ pid: pid_t, milliseconds: Int32) -> Int32? {
        if let status = reap(pid) { return status }
        let pidfd = cposix_pidfd_open(pid)
        guard pidfd >= 0 else { return reap(pid) }
        defer { close(pidfd) }
        _ = try? PosixPoll.wait(pidfd, events: Int16(POLLIN), milliseconds: milliseconds)
        return reap(pid)
    }

    /// Waits for our child `pid` to exit and reaps it: its exit status (128+N when killed by signal N), nil when it
    /// is not our child.
    public static func wait(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { return nil }
        }
        return exitStatus(status)
    }

    /// A wait status as a shell shows it: the exit code, or 128+N when killed by signal N.
    private static func exitStatus(_ status: Int32) -> Int32 {
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// waitpid(pid, WNOHANG): the exit status when it has exited (128+N for signal N), else nil.
    private static func reap(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        var rc: pid_t
        repeat { rc = waitpid(pid, &status, WNOHANG) } while rc < 0 && errno == EINTR
        guard rc == pid else { return rc < 0 ? -1 : nil }
        return exitStatus(status)
    }

    /// getpid(2): this process's id.
    public static var currentID: pid_t { getpid() }

    /// kill(2); a child that is already gone is not an error.
    public static func signal(_ pid: pid_t, _ signal: Int32) { _ = kill(pid, signal) }

    /// True while a process `pid` exists (kill(2) with signal 0; EPERM: it exists, owned by someone else).
    public static func isAlive(_ pid: pid_t) -> Bool { kill(pid, 0) == 0 || errno == EPERM }

    private static func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
