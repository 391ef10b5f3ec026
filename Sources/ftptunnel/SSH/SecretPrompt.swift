import Foundation
import Posix

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

    private var hasTerminal: Bool { PosixTerminal.hasControlling }

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
        guard let fd = PosixTerminal.openControlling() else { return nil }
        defer { PosixDescriptor.close(fd) }
        let read = {
            PosixTerminal.write(fd, prompt)
            return PosixTerminal.readLine(fd, limit: SecretPrompt.longestAnswer).map { String(decoding: $0, as: UTF8.self) }
        }
        return echo ? read() : PosixTerminal.withoutEcho(fd, read)
    }

    /// Runs the askpass program with the prompt as its argument and reads one line from its stdout.
    private func runAskpass(_ program: String, prompt: String) -> String? {
        guard let (ours, its) = try? PosixProcess.pipe() else { return nil }
        var pid: pid_t?
        // "Text file busy": another process of the user (one that just wrote the program and forked meanwhile)
        // still holds it open for writing for a moment; a few short retries, then give up as before.
        for attempt in 0..<SecretPrompt.busyRetries {
            do {
                pid = try PosixProcess.spawn(program, arguments: [program, prompt],
                                             environment: environment.map { "\($0.key)=\($0.value)" },
                                             stdoutFD: its, defaultSignals: [SIGPIPE], searchPath: true)
                break
            } catch {
                guard error.code == ETXTBSY, attempt + 1 < SecretPrompt.busyRetries else { break }
                _ = try? PosixPoll.wait(ours, events: 0, milliseconds: 20)
            }
        }
        PosixDescriptor.close(its)
        defer { PosixDescriptor.close(ours) }
        guard let pid else { return nil }
        let output = PosixTerminal.readAll(ours, limit: SecretPrompt.longestAnswer)
        guard PosixProcess.wait(pid) == 0 else { return nil }
        var text = String(decoding: output, as: UTF8.self)
        while let last = text.unicodeScalars.last, last == "\n" || last == "\r" { text.unicodeScalars.removeLast() }
        return text
    }

    /// Spawn attempts of the askpass program while it is busy being written (ETXTBSY), 20 ms apart.
    static let busyRetries = 10

    /// The longest secret read (a passphrase, a password): a bound on a runaway askpass program or terminal.
    static let longestAnswer = 64 << 10
}
