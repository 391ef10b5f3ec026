import Foundation

/// Asks the user for a secret (passphrase, password) the way OpenSSH does: on the terminal without echo, or
/// through the `SSH_ASKPASS` program when there is no terminal or `SSH_ASKPASS_REQUIRE=force`.
/// Secrets are never taken from the command line or from profiles.
struct SecretPrompt {
    let environment: [String: String]

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    private var askpass: String? {
        guard let program = environment["SSH_ASKPASS"], !program.isEmpty else { return nil }
        return environment["SSH_ASKPASS_REQUIRE"] == "never" ? nil : program
    }

    private var hasTerminal: Bool {
        let fd = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }

    /// True when some way of asking exists (a terminal, or an askpass program).
    var canAsk: Bool { askpass != nil || hasTerminal }

    /// Asks `prompt`; nil when nobody can be asked or the user cancelled.
    func ask(_ prompt: String, echo: Bool = false) -> String? {
        if let askpass, environment["SSH_ASKPASS_REQUIRE"] == "force" || !hasTerminal {
            return runAskpass(askpass, prompt: prompt)
        }
        return readFromTerminal(prompt, echo: echo)
    }

    private func readFromTerminal(_ prompt: String, echo: Bool) -> String? {
        let fd = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var saved = termios()
        let haveAttributes = tcgetattr(fd, &saved) == 0
        if haveAttributes && !echo {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            TerminalEcho.remember(saved)
            _ = tcsetattr(fd, TCSAFLUSH, &quiet)
        }
        defer {
            if haveAttributes && !echo {
                _ = tcsetattr(fd, TCSAFLUSH, &saved)
                TerminalEcho.forget()
                _ = write(fd, "\n", 1)
            }
        }
        _ = prompt.withCString { write(fd, $0, strlen($0)) }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") { break }
            line.append(byte)
        }
        return String(decoding: line, as: UTF8.self)
    }

    /// Runs the askpass program with the prompt as its argument and reads one line from its stdout.
    private func runAskpass(_ program: String, prompt: String) -> String? {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return nil }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])
        var pid: pid_t = 0
        let argv = [program, prompt]
        let env = environment.map { "\($0.key)=\($0.value)" }
        let rc = CStringArray(argv).withPointers { argvPointers in
            CStringArray(env).withPointers { envPointers in
                posix_spawnp(&pid, program, &actions, nil, argvPointers, envPointers)
            }
        }
        close(fds[1])
        defer { close(fds[0]) }
        guard rc == 0 else { return nil }
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while true {
            let n = read(fds[0], &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard status == 0 else { return nil }
        var text = String(decoding: output, as: UTF8.self)
        while let last = text.unicodeScalars.last, last == "\n" || last == "\r" { text.unicodeScalars.removeLast() }
        return text
    }
}

/// The terminal settings to restore if the process is interrupted while echo is off (Ctrl-C at a prompt).
enum TerminalEcho {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var saved: termios?

    static func remember(_ settings: termios) { lock.lock(); saved = settings; lock.unlock() }
    static func forget() { lock.lock(); saved = nil; lock.unlock() }

    /// Puts echo back on /dev/tty if a prompt had turned it off.
    static func restore() {
        lock.lock(); defer { lock.unlock() }
        guard var settings = saved else { return }
        let fd = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = tcsetattr(fd, TCSAFLUSH, &settings)
        _ = write(fd, "\n", 1)
        close(fd)
        saved = nil
    }
}

/// NUL-terminated C strings for argv/envp, freed after use.
struct CStringArray {
    private let strings: [String]
    init(_ strings: [String]) { self.strings = strings }

    func withPointers<R>(_ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { pointers.forEach { free($0) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
