import Foundation
import PasvdHandOff
import Testing
import FTPServerKit
import TestSupport
@testable import pasvd

/// Logged-in sessions of one account share account worker processes, `--sessions-per-process` at a time; the
/// listener trusts nothing its workers send.
@Suite struct AccountWorkerTests {
    /// Opens 40 sessions, prints `ready`, waits for a line on stdin, then in 40 threads each session downloads
    /// argv[1] (hashed) and uploads its own copy (`up-N.bin`); prints one `ok N DOWNHASH UPHASH` per session.
    static let fortySessions = """
    import ftplib, hashlib, io, sys, threading
    host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    payload = open(sys.argv[4], 'rb').read()
    sessions = []
    for i in range(40):
        ftp = ftplib.FTP(); ftp.connect(host, port, timeout=60); ftp.login('anonymous', 'x@')
        sessions.append(ftp)
    print('ready', flush=True)
    sys.stdin.readline()
    results = [None] * 40
    def work(i):
        ftp = sessions[i]
        try:
            h = hashlib.sha256(); ftp.retrbinary('RETR ' + name, h.update)
            ftp.storbinary('STOR up-%d.bin' % i, io.BytesIO(payload))
            results[i] = 'ok %d %s %s' % (i, h.hexdigest(), hashlib.sha256(payload).hexdigest())
            ftp.quit()
        except Exception as error:
            results[i] = 'failed %d %r' % (i, error)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(40)]
    for t in threads: t.start()
    for t in threads: t.join()
    for r in results: print(r)
    """

    @Test(arguments: [nil, 8, 1])
    func fortySessionsOfOneAccountUseCeilOfFortyOverNWorkers(perProcess: Int?) throws {
        // Two passive ports per session: 40 concurrent transfers never wait for a free one.
        let s = try PasvdScenario(passivePortCount: 80,
                                  extraArguments: perProcess.map { ["--sessions-per-process", "\($0)"] } ?? [])
        let n = perProcess ?? ServerConfiguration.defaultSessionsPerProcess
        try TestFiles.random(at: s.path("data.bin"), size: 3 << 20)
        let work = try TempDirectory("forty")
        try TestFiles.random(at: work.file("up.bin"), size: 1 << 20, seed: 3)
        let client = try ManagedProcess(try which("python3"), ["-c", Self.fortySessions, s.host, "\(s.port)", "data.bin",
                                                                work.file("up.bin")])
        try client.waitForOutput(containing: "ready", seconds: 120)
        try Deadline.wait(for: "the login workers to exit") { SessionProcesses.loginWorkers(s.server.process.pid).isEmpty }
        let workers = SessionProcesses.accountWorkers(s.server.process.pid)
        #expect(workers.count == (40 + n - 1) / n, "\(workers.count) account workers for 40 sessions, \(n) per process")
        client.send("go\n")
        #expect(try client.waitForExit(seconds: 240) == 0, "\(client.output)")
        let expected = try TestFiles.sha256(s.path("data.bin")), uploaded = try TestFiles.sha256(work.file("up.bin"))
        let lines = client.stdout.split(separator: "\n").filter { $0.hasPrefix("ok ") }
        #expect(lines.count == 40, "\(client.output)")
        for line in lines {
            let fields = line.split(separator: " ")
            #expect(fields.count == 4 && fields[2] == expected && fields[3] == uploaded, "\(line)")
            if fields.count == 4 { #expect(try TestFiles.sha256(s.path("up-\(fields[1]).bin")) == uploaded) }
        }
    }

    /// What the client sent before logging in carries over (OPTS MLST), and what it pipelined after PASS in the
    /// same write is served by the account worker: the login worker reads no byte beyond the PASS line.
    @Test func pipelinedCommandsAndStateSurviveTheHandOff() throws {
        let s = try PasvdScenario()
        try TestFiles.random(at: s.path("f.bin"), size: 12_345)
        let control = try s.control()
        control.send("OPTS MLST size;\r\nUSER \(PasvdLogin.opensslUser.user)\r\nPASS \(PasvdLogin.opensslUser.password)\r\n"
                     + "PWD\r\nMLST f.bin\r\nSIZE f.bin\r\n")
        let replies = (0..<6).compactMap { _ in control.readReply() }
        #expect(replies.count == 6, "\(replies)")
        guard replies.count == 6 else { return }
        #expect(replies[0].hasPrefix("200 MLST OPTS size;"))
        #expect(replies[1].hasPrefix("331") && replies[2].hasPrefix("230"), "\(replies)")
        #expect(replies[3].hasPrefix("257 \"/\""))
        #expect(replies[4].contains(" size=12345; /f.bin") && !replies[4].contains("type="), "\(replies[4])")
        #expect(replies[5] == "213 12345")
    }

    /// An account worker that stops taking sessions (here: SIGSTOP) costs the client handed to it a 421 once
    /// `AccountWorkers.acceptSeconds` passed, never a hang; the worker is retired (its own sessions go on) and
    /// the next login gets a new worker.
    @Test func aHungAccountWorkerCostsTheNextClientA421() throws {
        let s = try PasvdScenario()
        let first = try s.control(login: .anonymous)
        let worker = try #require(SessionProcesses.accountWorkers(s.server.process.pid).first)
        #expect(kill(worker, SIGSTOP) == 0)
        defer { kill(worker, SIGCONT) }
        let body = """
        import socket, time
        start = time.monotonic()
        c = socket.create_connection(('\(s.host)', \(s.port)), timeout=60); f = c.makefile('rb')
        f.readline(); c.sendall(b'USER anonymous\\r\\nPASS x\\r\\n')
        while True:
            line = f.readline()
            if not line or line[:3] in (b'421', b'230'): break
        print('%.1f %s' % (time.monotonic() - start, line.decode().strip()))
        """
        let result = try runCommand("python3", ["-c", body], seconds: 90)
        expectSuccess(result, "login against a hung worker")
        let seconds = Double(result.stdout.split(separator: " ").first ?? "") ?? 999
        #expect(result.stdout.contains(" 421 "), "\(result.output)")
        #expect(seconds < AccountWorkers.acceptSeconds + 10, "\(result.stdout)")
        kill(worker, SIGCONT)
        #expect(first.command("NOOP")?.hasPrefix("200") == true, "the retired worker's session goes on")
        #expect(try s.control(login: .anonymous).command("NOOP")?.hasPrefix("200") == true)
        #expect(SessionProcesses.accountWorkers(s.server.process.pid).count == 2)
    }

    @Test func anIdleAccountWorkerExits() throws {
        let s = try PasvdScenario(extraArguments: ["--worker-idle-exit", "0.5"])
        let control = try s.control(login: .anonymous)
        #expect(SessionProcesses.accountWorkers(s.server.process.pid).count == 1)
        #expect(control.command("QUIT")?.hasPrefix("221") == true)
        try Deadline.wait(for: "the idle account worker to exit") { SessionProcesses.accountWorkers(s.server.process.pid).isEmpty }
        #expect(try s.control(login: .anonymous).command("NOOP")?.hasPrefix("200") == true)
    }

    /// A compromised login worker is simulated by taking its channel to the listener (pidfd_getfd, root only) and
    /// sending what it likes: oversized, malformed or lying messages, none or several descriptors, descriptors that
    /// are not a connected TCP socket. Each is refused, the listener leaks no descriptor, the connection concerned
    /// ends with a 421 (never a 230), and other sessions and later logins are unaffected. A compromised account
    /// worker (its channel taken the same way) is retired: its sessions go on, new ones get a new worker.
    @Test(.enabled(if: geteuid() == 0, "taking another process's descriptors (pidfd_getfd) needs root, as in CI"))
    func hostileWorkerMessagesAreRefused() throws {
        let s = try PasvdScenario()
        try TestFiles.random(at: s.path("data.bin"), size: 1 << 20)
        let bystander = try s.control(login: .anonymous)
        try Deadline.wait(for: "the login workers to exit") { SessionProcesses.loginWorkers(s.server.process.pid).isEmpty }
        let listenerFDs = Self.openDescriptors(s.server.process.pid)
        let script = """
        import array, ctypes, os, socket, sys, time
        host, port, listener, case = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        \(LoginWorkerTakeover.python)
        client = socket.create_connection((host, port), timeout=10)
        reader = client.makefile('rb')
        assert reader.readline().startswith(b'220')
        client.sendall(b'NOOP\\r\\n')  # the listener greets; a login worker starts with the first command
        assert reader.readline().startswith(b'200')
        pid = None
        deadline = time.monotonic() + 10
        while pid is None and time.monotonic() < deadline:
            workers = login_workers(listener)
            pid = max(workers) if workers else None
        channel = socket.socket(fileno=grab(pid, 3))
        connection = grab(pid, 0)
        good = b'pasvd-session\\nid=1\\nuser=anonymous\\nanonymous=1\\nwritable=0\\nuid=0\\ngid=0\\nroot=/\\nfacts=type'
        def send(data, fds):
            channel.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds))] if fds else [])
        if case == 'oversized': send(good + b'x' * 9000, [connection])
        elif case == 'no-descriptor': send(good, [])
        elif case == 'three-descriptors':
            r, w = os.pipe(); send(good, [r, connection, w])
        elif case == 'pipe':
            r, w = os.pipe(); send(good, [r])
        elif case == 'unix-socket':
            a, b = socket.socketpair(); send(good, [a.fileno()])
        elif case == 'listening-socket':
            l = socket.create_server(('127.0.0.2', 0)); send(good, [l.fileno()])
        elif case == 'garbage': send(os.urandom(512), [connection])
        elif case == 'nul': send(good.replace(b'user=anonymous', b'user=anon\\x00ymous'), [connection])
        elif case == 'duplicate-key': send(good + b'\\nuid=0', [connection])
        elif case == 'bad-facts': send(good.replace(b'facts=type', b'facts=type;owner'), [connection])
        elif case == 'relative-root': send(good.replace(b'root=/', b'root=etc'), [connection])
        elif case == 'huge-uid': send(good.replace(b'uid=0', b'uid=99999999999'), [connection])
        elif case == 'wrong-kind': send(b'pasvd-ended\\nid=1', [connection])
        elif case == 'two-messages':
            send(b'pasvd-ended\\nid=1', [])
            try: send(good, [connection])
            except OSError: pass  # the listener closed the channel after the first message already
        os.close(connection)
        # The listener closes its end after the first message, good or bad: wait for that before logging in.
        import select
        waiter = select.poll(); waiter.register(channel, select.POLLHUP)
        assert waiter.poll(10000), 'the listener kept the channel open'
        channel.close()
        client.sendall(b'USER anonymous\\r\\nPASS x\\r\\n')
        replies = []
        while True:
            line = reader.readline()
            if not line: break
            replies.append(line.decode().strip())
            if line.startswith(b'421') or line.startswith(b'230'): break
        print(case, '|'.join(replies))
        """
        let cases = ["oversized", "no-descriptor", "three-descriptors", "pipe", "unix-socket", "listening-socket",
                     "garbage", "nul", "duplicate-key", "bad-facts", "relative-root", "huge-uid", "wrong-kind", "two-messages"]
        for name in cases {
            let result = try runCommand("python3", ["-c", script, s.host, "\(s.port)", "\(s.server.process.pid)", name], seconds: 60)
            expectSuccess(result, name)
            #expect(result.stdout.hasPrefix(name + " ") && result.stdout.contains("421") && !result.stdout.contains("230"),
                    "\(name): \(result.output)")
        }
        #expect(s.server.process.isRunning)
        try Deadline.wait(for: "the login workers to exit") { SessionProcesses.loginWorkers(s.server.process.pid).isEmpty }
        #expect(Self.openDescriptors(s.server.process.pid) == listenerFDs, "the listener leaked descriptors")
        #expect(bystander.command("NOOP")?.hasPrefix("200") == true)
        let work = try TempDirectory("hostile")
        expectSuccess(try FTPClients.curl(["-o", work.file("data.bin"), s.url(.anonymous, "data.bin")]), "download after")
        try expectSameBytes(s.path("data.bin"), work.file("data.bin"))

        // A compromised account worker: garbage on its channel retires it, its session goes on.
        let worker = try #require(SessionProcesses.accountWorkers(s.server.process.pid).first)
        let rogue = """
        import ctypes, os, socket, sys
        libc = ctypes.CDLL(None, use_errno=True)
        pidfd = os.pidfd_open(int(sys.argv[1]))
        channel = socket.socket(fileno=libc.syscall(438, pidfd, 0, 0))
        for data in [os.urandom(300), b'pasvd-ended\\nid=999999', b'x' * 5000]:
            try: channel.send(data)
            except OSError: pass  # the listener may already have closed the channel
        print('sent')
        """
        expectSuccess(try runCommand("python3", ["-c", rogue, "\(worker)"], seconds: 30), "rogue account worker")
        try Deadline.wait(for: "the listener to log the retirement") {
            s.server.process.stderr.contains("account worker sent a malformed message; retiring it")
        }
        #expect(bystander.command("NOOP")?.hasPrefix("200") == true, "the retired worker's session goes on")
        let next = try s.control(login: .anonymous)
        #expect(next.command("NOOP")?.hasPrefix("200") == true)
        #expect(SessionProcesses.accountWorkers(s.server.process.pid).count == 2, "a new worker for new sessions")
        #expect(s.server.process.isRunning)
    }

    /// Descriptor numbers open in `pid`.
    static func openDescriptors(_ pid: pid_t) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? [])
    }

    @Test func handOffMessagesRoundTripAndRefuseEverythingElse() throws {
        let handOff = SessionHandOff(sessionID: 7, user: "alice", isAnonymous: false, writable: true,
                                     worker: WorkerIdentity(uid: 1000, gid: 1001, root: "/srv/ftp/alice=x y"),
                                     state: SessionResumeState(selectedFacts: ["size", "type"]))
        for message in [HandOffMessage.session(handOff), .accepted(session: 3), .ended(session: 2_147_483_647)] {
            #expect(try HandOffMessage.decode(message.encoded()) == message)
        }
        let good = String(decoding: HandOffMessage.session(handOff).encoded(), as: UTF8.self)
        let bad: [(String, String)] = [
            ("oversized", good + String(repeating: "x", count: HandOffMessage.maximumBytes)),
            ("unknown kind", good.replacingOccurrences(of: "pasvd-session", with: "pasvd-other")),
            ("missing key", good.replacingOccurrences(of: "\nwritable=1", with: "")),
            ("extra key", good + "\nshell=/bin/sh"),
            ("duplicate key", good + "\nuid=0"),
            ("no equals", good + "\njunk"),
            ("relative root", good.replacingOccurrences(of: "root=/srv", with: "root=srv")),
            ("signed uid", good.replacingOccurrences(of: "uid=1000", with: "uid=-1")),
            ("leading zero", good.replacingOccurrences(of: "uid=1000", with: "uid=01000")),
            ("uid overflow", good.replacingOccurrences(of: "uid=1000", with: "uid=4294967296")),
            ("zero id", good.replacingOccurrences(of: "id=7", with: "id=0")),
            ("flag", good.replacingOccurrences(of: "writable=1", with: "writable=yes")),
            ("user", good.replacingOccurrences(of: "user=alice", with: "user=al ice")),
            ("fact", good.replacingOccurrences(of: "facts=size;type", with: "facts=size;unique")),
            ("repeated fact", good.replacingOccurrences(of: "facts=size;type", with: "facts=size;size")),
            ("ended extra", "pasvd-ended\nid=1\nid=2"),
            ("empty", ""),
        ]
        for (what, text) in bad {
            #expect(throws: HandOffMessageError.self, "\(what)") { try HandOffMessage.decode(Array(text.utf8)) }
        }
        #expect(throws: HandOffMessageError.self) { try HandOffMessage.decode(Array(good.utf8) + [0xFF]) }
    }
}
