import Foundation
import Testing
import TestSupport

/// Started as root, each login worker loads the users file, moves into an empty root of its own and drops to the
/// login account (`nobody` by default) before it reads a client byte; the listener maps each logged-in user name to
/// its account and root itself, whatever the login worker claims.
@Suite struct LoginConfinementTests {
    /// The fields of /proc/PID/status.
    static func status(_ pid: pid_t) throws -> [String: String] {
        let text = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    static func fields(_ value: String?) -> [String] { (value ?? "").split(whereSeparator: \.isWhitespace).map(String.init) }

    @Test(.enabled(if: geteuid() == 0, "the privilege drop happens when pasvd starts as root, as in CI"))
    func aLoginWorkerParsesWithoutPrivilegeInAnEmptyRoot() throws {
        let nobody = try #require(getpwnam("nobody"))
        let (uid, gid) = (nobody.pointee.pw_uid, nobody.pointee.pw_gid)
        let s = try PasvdScenario()
        try TestFiles.random(at: s.path("down.bin"), size: 1 << 20)

        // Connected, greeted, not logged in: the login worker holds no privilege and sees no file.
        let waiting = try s.control()
        // The listener greets; the login worker starts with the first command.
        #expect(waiting.command("NOOP")?.hasPrefix("200") == true)
        let worker = try #require(SessionProcesses.loginWorkers(s.server.process.pid).first)
        let status = try Self.status(worker)
        #expect(Self.fields(status["Uid"]) == Array(repeating: "\(uid)", count: 4), "Uid: \(status["Uid"] ?? "?")")
        #expect(Self.fields(status["Gid"]) == Array(repeating: "\(gid)", count: 4), "Gid: \(status["Gid"] ?? "?")")
        #expect(Self.fields(status["Groups"]) == ["\(gid)"], "Groups: \(status["Groups"] ?? "?")")
        for capabilities in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
            #expect(UInt64(status[capabilities] ?? "x", radix: 16) == 0, "\(capabilities): \(status[capabilities] ?? "?")")
        }
        #expect(status["NoNewPrivs"] == "1")
        let root = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(worker)/root")
        #expect(root != "/" && root.hasSuffix("(deleted)"), "login worker root: \(root)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(worker)/root").isEmpty)
        let listener = try Self.status(s.server.process.pid)
        #expect(Self.fields(listener["Uid"]).first == "0", "the listener keeps root")

        // The same connection: a wrong password gets 530, the right one logs in (the listener maps the account).
        #expect(waiting.command("USER \(PasvdLogin.opensslUser.user)")?.hasPrefix("331") == true)
        #expect(waiting.command("PASS wrong") == "530 Login incorrect.")
        #expect(waiting.command("USER \(PasvdLogin.opensslUser.user)")?.hasPrefix("331") == true)
        #expect(waiting.command("PASS \(PasvdLogin.opensslUser.password)")?.hasPrefix("230") == true)
        #expect(waiting.command("SIZE down.bin") == "213 \(1 << 20)")

        // Three failures still end the connection with 421.
        let guesser = try s.control()
        var replies: [String] = []
        for password in ["one", "two", "three"] {
            guard guesser.command("USER \(PasvdLogin.passwdUser.user)") != nil, let reply = guesser.command("PASS \(password)") else { break }
            replies.append(reply)
        }
        #expect(replies.count == 3 && replies.prefix(2).allSatisfy { $0 == "530 Login incorrect." }, "\(replies)")
        #expect(replies.last?.hasPrefix("421") == true, "\(replies)")
        #expect(guesser.isClosedByServer())

        // Byte-exact transfers both ways, for a users-file user and anonymous.
        let work = try TempDirectory("login-confinement")
        try TestFiles.random(at: work.file("up.bin"), size: 700_000, seed: 3)
        for login in [PasvdLogin.passwdUser, PasvdLogin.anonymous] {
            let name = login.user
            expectSuccess(try FTPClients.curl(["-o", work.file("down-\(name)"), s.url(login, "down.bin")]), "download as \(name)")
            try expectSameBytes(s.path("down.bin"), work.file("down-\(name)"))
            expectSuccess(try FTPClients.curl(["-T", work.file("up.bin"), s.url(login, "up-\(name).bin")]), "upload as \(name)")
            try expectSameBytes(work.file("up.bin"), s.path("up-\(name).bin"))
        }
    }

    /// A compromised login worker (its channel and connection taken with pidfd_getfd) hands over sessions with
    /// lying claims: uid 0 and root `/` for anonymous and for a users-file user, an anonymous claim under a user's
    /// name, a user who is not in the users file. The listener serves the first two with the account and root their
    /// user name maps to (the configured root, not `/`), and refuses the others with 421.
    @Test(.enabled(if: geteuid() == 0, "taking another process's descriptors (pidfd_getfd) needs root, as in CI"))
    func theListenerMapsTheAccountWhateverTheLoginWorkerClaims() throws {
        let s = try PasvdScenario()
        try TestFiles.random(at: s.path("data.bin"), size: 4096)
        let script = """
        import array, ctypes, os, select, socket, sys, time
        host, port, listener, message = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].encode()
        \(LoginWorkerTakeover.python)
        client = socket.create_connection((host, port), timeout=10)
        reader = client.makefile('rb')
        assert reader.readline().startswith(b'220')
        client.sendall(b'NOOP\\r\\n')  # the listener greets; a login worker starts with the first command
        assert reader.readline().startswith(b'200')
        workers = login_workers(listener)
        assert len(workers) == 1, workers
        channel = socket.socket(fileno=grab(workers[0], 3))
        connection = grab(workers[0], 0)
        os.kill(workers[0], 19)  # SIGSTOP: the real login worker reads nothing more
        channel.sendmsg([message.replace(b'|', b'\\n')], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [connection]))])
        os.close(connection)
        waiter = select.poll(); waiter.register(channel, select.POLLHUP)
        assert waiter.poll(10000), 'the listener kept the channel open'
        channel.close()
        os.kill(workers[0], 9)
        line = reader.readline().decode().strip()
        if line.startswith('230'):
            client.sendall(b'SIZE data.bin\\r\\nSIZE /etc/passwd\\r\\nPWD\\r\\n')
            line += '|' + '|'.join(reader.readline().decode().strip() for _ in range(3))
        print(line)
        """
        func claim(user: String, anonymous: Bool, writable: Bool = true) -> String {
            "pasvd-session|id=7|user=\(user)|anonymous=\(anonymous ? 1 : 0)|writable=\(writable ? 1 : 0)|uid=0|gid=0|root=/|facts=type"
        }
        let served = [("anonymous as uid 0 in /", claim(user: "anonymous", anonymous: true)),
                      ("a user as uid 0 in /", claim(user: PasvdLogin.opensslUser.user, anonymous: false))]
        for (name, message) in served {
            let result = try runCommand("python3", ["-c", script, s.host, "\(s.port)", "\(s.server.process.pid)", message], seconds: 60)
            expectSuccess(result, name)
            let replies = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|").map(String.init)
            #expect(replies.count == 4 && replies[0].hasPrefix("230"), "\(name): \(result.output)")
            #expect(replies.count == 4 && replies[1] == "213 4096", "\(name): served from the mapped root: \(result.output)")
            #expect(replies.count == 4 && replies[2].hasPrefix("550"), "\(name): / is not the root: \(result.output)")
        }
        #expect(SessionProcesses.accountWorkers(s.server.process.pid, root: "/").isEmpty, "no worker for the claimed root /")
        #expect(!SessionProcesses.accountWorkers(s.server.process.pid, root: s.root).isEmpty)
        let refused = [("anonymous under a user's name", claim(user: PasvdLogin.opensslUser.user, anonymous: true)),
                       ("a user not in the users file", claim(user: "mallory", anonymous: false))]
        for (name, message) in refused {
            let result = try runCommand("python3", ["-c", script, s.host, "\(s.port)", "\(s.server.process.pid)", message], seconds: 60)
            expectSuccess(result, name)
            #expect(result.stdout.hasPrefix("421"), "\(name): \(result.output)")
        }
        try Deadline.wait(for: "the refusals logged") {
            s.server.process.stderr.contains("login of mallory not served: user mallory has no account here")
        }
        #expect(s.server.process.isRunning)
        #expect(try s.control(login: .anonymous).command("SIZE data.bin") == "213 4096")
    }
}
