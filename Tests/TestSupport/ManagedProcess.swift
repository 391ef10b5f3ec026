import Foundation

/// A real child process (sshd, pasvd, vsftpd, ftptunnel, curl …) with its output captured to files.
/// Spawned with posix_spawn in its own process group and reaped with waitpid(WNOHANG): Foundation's
/// Process blocks in wait4 when a daemon closes the descriptors it inherited. Killed when released,
/// so a failing test never leaves servers behind.
public final class ManagedProcess: @unchecked Sendable {
    public let name: String
    public let arguments: [String]
    public let stdoutPath: String
    public let stderrPath: String
    public let pid: pid_t
    private let scratch: TempDirectory
    private var stdinFD: Int32
    private var exitStatus: Int32?
    private let lock = NSLock()

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                currentDirectory: String? = nil) throws {
        name = (executable as NSString).lastPathComponent
        self.arguments = arguments
        scratch = try TempDirectory("proc-\(name)")
        stdoutPath = scratch.file("stdout")
        stderrPath = scratch.file("stderr")

        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { throw POSIXError(.EMFILE) }
        // Close-on-exec on both ends: children spawned meanwhile by other tests must not inherit them
        // (dup2 onto the child's stdin clears the flag for that copy).
        for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        stdinFD = pipeFDs[1]

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[0], 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attributes, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGPIPE, SIGINT, SIGTERM, SIGCHLD, SIGHUP] { sigaddset(&defaults, sig) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)

        var environment = environment ?? ProcessInfo.processInfo.environment
        if name == "ftptunnel", environment["XDG_RUNTIME_DIR"] == ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"] {
            // Each tunnel gets its own control socket directory unless the test chose one: tunnels of parallel
            // tests to the same destination must not meet as "already running".
            let runtime = scratch.file("run")
            mkdir(runtime, 0o700)
            environment["XDG_RUNTIME_DIR"] = runtime
        }
        let env = environment.map { "\($0.key)=\($0.value)" }
        // `env --chdir` starts the child in `currentDirectory` (posix_spawn's chdir action is not exposed to Swift).
        let argv = currentDirectory.map { ["/usr/bin/env", "--chdir=\($0)", executable] + arguments }
            ?? [executable] + arguments
        let program = argv[0]
        var child: pid_t = 0
        let rc = withCStrings(argv) { argvPointers in
            withCStrings(env) { envPointers in
                posix_spawn(&child, program, &actions, &attributes, argvPointers, envPointers)
            }
        }
        close(pipeFDs[0])
        guard rc == 0 else {
            close(stdinFD)
            throw ProcessFailure(command: executable, status: -1, output: "posix_spawn failed: \(String(cString: strerror(rc)))")
        }
        pid = child
    }

    public var isRunning: Bool { reap(blocking: false) == nil }
    public var stdout: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    public var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
    public var output: String { stdout + stderr }

    /// Writes to the child's standard input.
    public func send(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count, stdinFD >= 0 {
            let n = bytes[offset...].withUnsafeBytes { write(stdinFD, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            offset += n
        }
    }

    public func closeInput() {
        lock.lock(); defer { lock.unlock() }
        if stdinFD >= 0 { close(stdinFD); stdinFD = -1 }
    }

    public func signal(_ signal: Int32) { if isRunning { kill(pid, signal) } }

    /// Signals the child's whole process group (it and everything it forked).
    public func signalGroup(_ signal: Int32) { if isRunning { kill(-pid, signal) } }

    /// SIGKILLs the child and all its descendants (found through /proc, so those that left the group too).
    public func killTree() {
        let victims = [pid] + ProcessTree.descendants(of: pid)
        for victim in victims { kill(victim, SIGKILL) }
        _ = reap(blocking: true)
    }

    /// Waits for exit within `seconds` and returns the exit status (128+N for signal N);
    /// throws on time-out (and kills the child).
    @discardableResult
    public func waitForExit(seconds: Double = 60) throws -> Int32 {
        do {
            try Deadline.wait(for: "\(name) to exit", seconds: seconds) { !isRunning }
        } catch {
            signalGroup(SIGKILL)
            _ = reap(blocking: true)
            throw error
        }
        return reap(blocking: true) ?? -1
    }

    /// Waits until `text` appears on stdout or stderr; fails early if the process exits first.
    public func waitForOutput(containing text: String, seconds: Double = 30) throws {
        try Deadline.wait(for: "\(name) to print \"\(text)\"", seconds: seconds) {
            if output.contains(text) { return true }
            if let status = reap(blocking: false) {
                if output.contains(text) { return true }
                throw ProcessFailure(command: name, status: status, output: output)
            }
            return false
        }
    }

    /// SIGTERM, then SIGKILL to the whole group if it has not gone within 5 s.
    public func stop() {
        if isRunning {
            signal(SIGTERM)
            if (try? Deadline.wait(for: "\(name) to stop", seconds: 5, { !isRunning })) == nil {
                signalGroup(SIGKILL)
                _ = reap(blocking: true)
            }
        }
        closeInput()
    }

    /// The exit status once the child has exited (reaping it), nil while it runs.
    private func reap(blocking: Bool) -> Int32? {
        lock.lock(); defer { lock.unlock() }
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        let rc = waitpid(pid, &status, blocking ? 0 : WNOHANG)
        guard rc == pid else { return rc < 0 ? -1 : nil }
        let code = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        exitStatus = code
        return code
    }

    deinit { stop() }
}

/// The process tree as /proc shows it.
public enum ProcessTree {
    /// The parent of `pid` (nil when it is gone).
    public static func parent(of pid: pid_t) -> pid_t? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 2 ? pid_t(fields[1]) : nil
    }

    /// Every descendant of `root` (children, grandchildren, …), including those that left its process group.
    public static func descendants(of root: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        let pairs: [(child: pid_t, parent: pid_t)] = entries.compactMap { entry in
            guard let child = pid_t(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, let parent = pid_t(fields[1]) else { return nil }
            return (child, parent)
        }
        var result: [pid_t] = []
        var frontier = [root]
        while let next = frontier.popLast() {
            for pair in pairs where pair.parent == next { result.append(pair.child); frontier.append(pair.child) }
        }
        return result
    }
}

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { pointers.forEach { free($0) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

public struct ProcessFailure: Error, CustomStringConvertible {
    public let command: String
    public let status: Int32
    public let output: String
    public var description: String { "\(command) exited with \(status):\n\(output)" }
}

/// The result of running a command to completion.
public struct CommandResult: Sendable {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public var output: String { stdout + stderr }
}

/// Runs a command to completion (killed after `seconds`) and returns status and output.
@discardableResult
public func runCommand(_ executable: String, _ arguments: [String], seconds: Double = 120,
                       environment: [String: String]? = nil, input: String? = nil,
                       currentDirectory: String? = nil) throws -> CommandResult {
    let path = executable.hasPrefix("/") ? executable : try which(executable)
    let child = try ManagedProcess(path, arguments, environment: environment, currentDirectory: currentDirectory)
    if let input { child.send(input) }
    child.closeInput()
    let status = try child.waitForExit(seconds: seconds)
    return CommandResult(status: status, stdout: child.stdout, stderr: child.stderr)
}

/// Runs a command and throws unless it exits 0.
@discardableResult
public func runChecked(_ executable: String, _ arguments: [String], seconds: Double = 120,
                       environment: [String: String]? = nil, input: String? = nil) throws -> CommandResult {
    let result = try runCommand(executable, arguments, seconds: seconds, environment: environment, input: input)
    guard result.status == 0 else {
        throw ProcessFailure(command: ([executable] + arguments).joined(separator: " "), status: result.status,
                             output: result.output)
    }
    return result
}

public struct MissingTool: Error, CustomStringConvertible {
    public let name: String
    public var description: String { "\(name) is not installed: run `make test`, which installs the test dependencies" }
}

/// Finds a tool on PATH (plus the sbin directories, where sshd and vsftpd live).
public func which(_ name: String) throws -> String {
    let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
    for dir in path.split(separator: ":") {
        let candidate = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw MissingTool(name: name)
}
