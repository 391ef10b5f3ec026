import Foundation
import Testing
import TestSupport

/// Connections that have not logged in have bounds of their own (`--max-prelogin`, `--max-prelogin-per-address`)
/// and a login deadline that commands do not extend (`--login-timeout`): they cannot lock logged-in users out.
@Suite struct PreloginLimitsTests {
    /// Hostile client addresses: 20 connections from each of four (the per-address bound), 80 in all.
    static let hostileSources = ["127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13"]
    static let perAddress = 20
    static let loginTimeout = 20.0
    /// Reads wait this long: a login worker starts at the first command, and 80 of them at once on a loaded
    /// machine can take longer than the harness's 5 s.
    static let readTimeout = 30

    @Test func aRealUserLogsInAndDownloadsWhile80HostilePreloginConnectionsAreHeld() throws {
        let s = try PasvdScenario(extraArguments: [
            "--max-sessions", "4", "--max-prelogin", "100", "--max-prelogin-per-address", "\(Self.perAddress)",
            "--login-timeout", "\(Int(Self.loginTimeout))",
        ])
        try TestFiles.random(at: s.path("payload.bin"), size: 8 << 20)
        // 80 pre-login connections: the first half stays silent, the second half sends NOOP before any USER.
        // All connected first, then the greetings read: each waits for a login worker of its own to start.
        var hostile: [(control: RawFTPControl, opened: Double)] = []
        for source in Self.hostileSources {
            for _ in 0..<Self.perAddress {
                let control = try RawFTPControl(host: s.host, port: s.port, from: source)
                control.setReadTimeout(seconds: Self.readTimeout)
                hostile.append((control, ProcessInfo.processInfo.systemUptime))
            }
        }
        for (control, _) in hostile { #expect(control.readReply()?.hasPrefix("220") == true, "greeting of a hostile connection") }
        print("80 hostile connections greeted \(ProcessInfo.processInfo.systemUptime - hostile[0].opened) s after the first connected")
        let silent = hostile[..<40], noopers = hostile[40...]
        let looper = NoopLooper(noopers.map(\.control))
        // The listener greets and holds a connection until its first command: only the NOOP-looping ones have a
        // login worker process.
        try Deadline.wait(for: "a login worker for each NOOP-looping connection", seconds: Self.loginTimeout) {
            SessionProcesses.loginWorkers(s.server.process.pid).count == noopers.count && looper.rounds > 0
        }

        // The per-address bound: one more from a full address gets 421 and is closed at once, without a process.
        let workersBefore = SessionProcesses.loginWorkers(s.server.process.pid).count
        let extra = try RawFTPControl(host: s.host, port: s.port, from: Self.hostileSources[0])
        let refusal = extra.readReply() ?? ""
        #expect(refusal.hasPrefix("421") && refusal.contains("from your address"), "\(refusal)")
        #expect(extra.isClosedByServer())
        #expect(SessionProcesses.loginWorkers(s.server.process.pid).count <= workersBefore)

        let pss = SessionProcesses.all(s.server.process.pid).compactMap { ProcessFiles.rollupKiB($0, "Pss") }.reduce(0, +)
        print("pasvd with 80 connections waiting to log in (40 silent, 40 sending NOOP): PSS sum \(pss) KiB")
        #expect(SessionProcesses.loginWorkers(s.server.process.pid).count == noopers.count)

        // A real user (another address) logs in and downloads byte-exact while all 80 are held.
        let work = try TempDirectory("prelogin")
        let download = try FTPClients.curl(["-o", work.file("payload.bin"), s.url(.opensslUser, "payload.bin")], seconds: 60)
        #expect(download.status == 0, "\(download.stderr)")
        try expectSameBytes(s.path("payload.bin"), work.file("payload.bin"))
        let looped = looper.rounds
        try Deadline.wait(for: "the NOOP loop to go on after the download", seconds: Self.loginTimeout) { looper.rounds > looped }
        #expect(looper.closedCount == 0, "NOOP-looping connections still held while the real user logged in")

        // At the login deadline every hostile connection gets 421 and is closed, NOOPs notwithstanding.
        for (control, opened) in silent {
            let reply = control.readReply() ?? ""
            #expect(reply.hasPrefix("421") && reply.contains("Login timeout"), "\(reply)")
            #expect(ProcessInfo.processInfo.systemUptime - opened >= Self.loginTimeout - 0.5, "not before the deadline")
            #expect(control.isClosedByServer())
        }
        try Deadline.wait(for: "the NOOP-looping connections to be closed", seconds: 2 * Self.loginTimeout) {
            looper.closedCount == noopers.count
        }
        looper.stop()
        #expect(looper.timeoutReplies == noopers.count, "each NOOP loop ended with the 421 of the login deadline")
        let closedAfter = looper.closedAt.map { $0 - noopers.map(\.opened).min()! }
        #expect(closedAfter.allSatisfy { $0 >= Self.loginTimeout - 0.5 }, "\(closedAfter)")
        try Deadline.wait(for: "every login worker to exit") { SessionProcesses.loginWorkers(s.server.process.pid).isEmpty }
    }

    @Test func theTotalBoundRefusesWith421AndPreloginConnectionsDoNotCountAsSessions() throws {
        let s = try PasvdScenario(extraArguments: ["--max-sessions", "1", "--max-prelogin", "3"])
        // The fixture's readiness probe may still hold a slot for a moment.
        let waiting = try (0..<3).map { index in
            try Deadline.value(of: "pre-login connection \(index)") { () -> RawFTPControl? in
                guard let c = try? RawFTPControl(host: s.host, port: s.port, from: "127.0.0.2\(index)") else { return nil }
                c.setReadTimeout(seconds: Self.readTimeout)
                return c.readReply()?.hasPrefix("220") == true ? c : nil
            }
        }
        let fourth = try RawFTPControl(host: s.host, port: s.port)
        let refusal = fourth.readReply() ?? ""
        #expect(refusal.hasPrefix("421") && refusal.contains("waiting to log in (limit 3)"), "\(refusal)")
        #expect(fourth.isClosedByServer())
        // Three connections waiting to log in and --max-sessions 1: the first to log in gets the session.
        #expect(waiting[0].command("USER \(PasvdLogin.anonymous.user)")?.hasPrefix("331") == true)
        #expect(waiting[0].command("PASS \(PasvdLogin.anonymous.password)")?.hasPrefix("230") == true)
        #expect(waiting[0].command("PWD")?.hasPrefix("257") == true)
        // The second finds the session limit reached at its login.
        #expect(waiting[1].command("USER \(PasvdLogin.anonymous.user)")?.hasPrefix("331") == true)
        let full = waiting[1].command("PASS \(PasvdLogin.anonymous.password)") ?? ""
        #expect(full.hasPrefix("421") && full.contains("Too many sessions (limit 1)"), "\(full)")
        #expect(waiting[1].isClosedByServer())
        // A failed login keeps its delay and its 530 before the deadline.
        #expect(waiting[2].command("USER \(PasvdLogin.opensslUser.user)")?.hasPrefix("331") == true)
        let started = ProcessInfo.processInfo.systemUptime
        #expect(waiting[2].command("PASS wrong")?.hasPrefix("530") == true)
        #expect(ProcessInfo.processInfo.systemUptime - started >= Double(PasvdScenario.testLoginFailureDelay)! - 0.05)
    }

    @Test func badPreloginOptionsAreRefusedNamingTheOption() throws {
        let root = try TempDirectory("prelogin-options")
        for (arguments, option) in [(["--max-prelogin", "0"], "--max-prelogin"), (["--login-timeout", "0"], "--login-timeout"),
                                    (["--max-prelogin", "4", "--max-prelogin-per-address", "5"], "--max-prelogin-per-address")] {
            let result = try runCommand(try Products.pasvd, ["--root", root.path, "--anonymous"] + arguments)
            #expect(result.status != 0 && result.stderr.contains(option), "\(arguments): \(result.stderr)")
        }
    }
}

/// A hostile client's NOOP loop over many pre-login connections, on a thread of its own: each round sends NOOP on
/// every open connection, then reads each reply, then pauses a quarter of a second (the attacker's pace, not a
/// synchronisation). A connection is done at its first reply other than 200 (the server closes it after that).
final class NoopLooper: @unchecked Sendable {
    private let lock = NSLock()
    private var stopped = false
    private var _rounds = 0
    private var _closedAt: [Double] = []
    private var _timeoutReplies = 0

    init(_ controls: [RawFTPControl]) {
        Thread { [self] in
            var open = controls
            while !open.isEmpty, !isStopped {
                let sent = open.map { NoopLooper.sendNoop($0) }
                open = zip(open, sent).filter { control, sent in
                    let reply = sent ? control.readReply() ?? "" : ""
                    guard !reply.hasPrefix("200") else { return true }
                    closed(loginTimeout: reply.hasPrefix("421") && reply.contains("Login timeout"))
                    return false
                }.map(\.0)
                lock.withLock { _rounds += 1 }
                var none = pollfd()
                _ = poll(&none, 0, 250)
            }
        }.start()
    }

    var rounds: Int { lock.withLock { _rounds } }
    var closedCount: Int { lock.withLock { _closedAt.count } }
    var closedAt: [Double] { lock.withLock { _closedAt } }
    var timeoutReplies: Int { lock.withLock { _timeoutReplies } }
    func stop() { lock.withLock { stopped = true } }

    private var isStopped: Bool { lock.withLock { stopped } }

    /// Sends NOOP unless the server already sent something by itself (the deadline's 421, read next instead);
    /// false when the connection is closed (EPIPE here, never SIGPIPE).
    private static func sendNoop(_ control: RawFTPControl) -> Bool {
        var fds = [pollfd(fd: control.fd, events: Int16(POLLIN), revents: 0)]
        if poll(&fds, 1, 0) > 0 { return true }
        let line = Array("NOOP\r\n".utf8)
        return line.withUnsafeBytes({ send(control.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == line.count
    }

    private func closed(loginTimeout: Bool) {
        let now = ProcessInfo.processInfo.systemUptime
        lock.withLock {
            _closedAt.append(now)
            if loginTimeout { _timeoutReplies += 1 }
        }
    }
}
