import Foundation
import Testing
import TestSupport

/// Each session is its own process, which switches to the session's system account after login: files it
/// creates belong to that account, the kernel applies that account's permissions, and a crashing session
/// leaves the others running.
@Suite struct PrivilegeSeparationTests {
    /// The system account the tests map a user to (created when missing; tests run as root in CI).
    static let testAccount = "pasvd-test"

    private static func ensureTestAccount() throws -> (uid: uid_t, gid: gid_t) {
        if getpwnam(testAccount) == nil {
            try runChecked(try which("useradd"), ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", testAccount])
        }
        let entry = try #require(getpwnam(testAccount))
        return (entry.pointee.pw_uid, entry.pointee.pw_gid)
    }

    @Test(.enabled(if: geteuid() == 0, "switching accounts needs root, as in CI"))
    func sessionsRunAsTheirMappedAccount() throws {
        let (uid, gid) = try Self.ensureTestAccount()
        let directory = try TempDirectory("privsep")
        let home = try directory.makeDirectory("home")
        chown(home, uid, gid)
        try directory.write("home/root-only.txt", "not for the session", mode: 0o600)
        let shared = try directory.makeDirectory("shared")
        try directory.write("shared/readme.txt", "read me")
        chmod(shared, 0o755)
        let hash = try runChecked("openssl", ["passwd", "-6", "-stdin"], input: "pw\n").stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let users = try directory.write("users", "mapped:\(hash):\(home):\(Self.testAccount)\n", mode: 0o600)
        let server = try PasvdFixture(root: shared, extraArguments: [
            "--users", users, "--anonymous", "--writable", "--anonymous-account", "nobody",
            "--pasv-address", LoopbackNet.serverSide,
        ])
        let work = try TempDirectory("privsep-client")
        try TestFiles.random(at: work.file("up.bin"), size: 300_000)
        let url = "ftp://mapped:pw@\(server.host):\(server.port)/"
        expectSuccess(try FTPClients.curl(["-T", work.file("up.bin"), url + "up.bin"]), "upload as mapped")
        try expectSameBytes(work.file("up.bin"), "\(home)/up.bin")
        expectSuccess(try FTPClients.curl([url, "-Q", "MKD made"]), "MKD as mapped")
        for created in ["up.bin", "made"] {
            var info = stat()
            #expect(stat("\(home)/\(created)", &info) == 0 && info.st_uid == uid && info.st_gid == gid,
                    "\(created) owned by \(info.st_uid):\(info.st_gid), expected \(uid):\(gid)")
        }
        // The kernel checks the session's account: a root-only file inside the root stays unreadable.
        let denied = try FTPClients.curl(["-o", work.file("x"), url + "root-only.txt"])
        #expect(denied.status != 0, "root-only file was served")
        // Anonymous runs as nobody: it reads, but cannot write into a root-owned directory even with --writable.
        let anonymous = "ftp://anonymous:x@\(server.host):\(server.port)/"
        expectSuccess(try FTPClients.curl(["-o", work.file("readme"), anonymous + "readme.txt"]), "anonymous read")
        #expect(try FTPClients.curl(["-T", work.file("up.bin"), anonymous + "up.bin"]).status != 0)
        #expect(!fileExists("\(shared)/up.bin"))
        #expect(server.process.stderr.contains("sessions run as \(Self.testAccount) (uid \(uid)"), "\(server.process.stderr)")
        #expect(server.process.stderr.contains("sessions run as nobody"))
    }

    /// A user whose sessions could never start (root owned by root, no account mapped, no --user-account) is a
    /// permanent misconfiguration: named with its users-file line at start-up, and its login with the right
    /// password gets a 530 (not "421 try again later"); another user of the same file still logs in.
    @Test(.enabled(if: geteuid() == 0, "account mapping applies when pasvd runs as root, as in CI"))
    func aUserThatWouldRunAsRootIsNamedAtStartAndRefusedWith530() throws {
        let (uid, gid) = try Self.ensureTestAccount()
        let directory = try TempDirectory("rooted")
        let rootOwned = try directory.makeDirectory("rooted")
        let home = try directory.makeDirectory("home")
        chown(home, uid, gid)
        try directory.write("home/f.txt", "fine")
        let hash = try runChecked("openssl", ["passwd", "-6", "-stdin"], input: "pw\n").stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let users = try directory.write("users", "# site users\nfine:\(hash):\(home)\nrooted:\(hash):\(rootOwned)\n", mode: 0o600)
        let server = try PasvdFixture(root: rootOwned, extraArguments: ["--users", users, "--pasv-address", LoopbackNet.serverSide],
                                      runnerAccounts: false)
        let startLog = server.process.stderr
        #expect(startLog.contains("\(users):3: user rooted cannot log in until this is fixed: user rooted would run as root"), "\(startLog)")
        #expect(!startLog.contains("user fine cannot log in"), "\(startLog)")

        let work = try TempDirectory("rooted-client")
        let refused = try FTPClients.curl(["-v", "-o", work.file("x"), "ftp://rooted:pw@\(server.host):\(server.port)/"])
        #expect(refused.status != 0)
        #expect(refused.output.contains("530 This account is not set up correctly on the server"), "\(refused.output)")
        #expect(!refused.output.contains("421"), "\(refused.output)")
        let fine = try FTPClients.curl(["-o", work.file("f.txt"), "ftp://fine:pw@\(server.host):\(server.port)/f.txt"])
        expectSuccess(fine, "the other user of the file")
        try expectSameBytes(work.file("f.txt"), "\(home)/f.txt")
    }

    /// With a process per session (`--sessions-per-process 1`), a crash ends that session alone.
    @Test func aCrashingSessionLeavesTheOthersRunning() throws {
        let s = try PasvdScenario(extraArguments: ["--sessions-per-process", "1"])
        try TestFiles.random(at: s.path("big.bin"), size: 24 << 20)
        let work = try TempDirectory("crash")
        // The victim: a raw session mid-download, alone in its account worker.
        let victim = try s.control(login: .anonymous)
        let pid = try #require(SessionProcesses.accountWorkers(s.server.process.pid).first)
        let data = try s.openData(victim)
        defer { close(data) }
        #expect(victim.command("RETR big.bin")?.hasPrefix("150") == true)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        #expect(read(data, &buffer, buffer.count) > 0)
        // The survivor: curl downloading in parallel on its own session, same account, another worker.
        let curl = try ManagedProcess(try which("curl"), ["-sS", "--limit-rate", "4M", "-o", work.file("down"),
                                                          s.url(.anonymous, "big.bin")])
        try Deadline.wait(for: "the parallel download to start") { TestFiles.size(work.file("down")) > 0 }
        #expect(SessionProcesses.accountWorkers(s.server.process.pid).count == 2)
        #expect(kill(pid, SIGSEGV) == 0)
        #expect(victim.isClosedByServer())
        #expect(try curl.waitForExit(seconds: 60) == 0, "\(curl.output)")
        try expectSameBytes(s.path("big.bin"), work.file("down"))
        #expect(s.server.process.isRunning)
        #expect(try s.control(login: .anonymous).command("NOOP")?.hasPrefix("200") == true)
        try Deadline.wait(for: "the crash logged by the listener") {
            s.server.process.stderr.contains("account worker ended by signal \(SIGSEGV)")
        }
    }

    /// With shared processes (the default), a crash ends the sessions of that one worker: another account's (here:
    /// another root's) sessions, idle and mid-transfer, go on.
    @Test func aCrashInOneAccountsWorkerLeavesAnotherAccountsSessionsRunning() throws {
        let s = try PasvdScenario()
        let other = try s.directory.makeDirectory("other")
        let zoe = PasvdLogin(kind: .pasvdPasswd, user: "zoe", password: "zoe's password")
        try PasvdScenario.addUser(file: s.usersFile, login: zoe, root: other)
        try TestFiles.random(at: s.path("big.bin"), size: 24 << 20)
        try TestFiles.random(at: "\(other)/big.bin", size: 24 << 20, seed: 7)
        let work = try TempDirectory("crash-accounts")
        // Two anonymous sessions share one worker: one mid-download, one idle.
        let victim = try s.control(login: .anonymous)
        let neighbour = try s.control(login: .anonymous)
        let anonymousWorkers = SessionProcesses.accountWorkers(s.server.process.pid, root: s.root)
        #expect(anonymousWorkers.count == 1)
        let data = try s.openData(victim)
        defer { close(data) }
        #expect(victim.command("RETR big.bin")?.hasPrefix("150") == true)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        #expect(read(data, &buffer, buffer.count) > 0)
        // zoe's sessions run in a worker of their own: one idle, one downloading.
        let zoeIdle = try s.control(login: zoe)
        let curl = try ManagedProcess(try which("curl"), ["-sS", "--limit-rate", "4M", "-o", work.file("down"),
                                                          s.url(zoe, "big.bin")])
        try Deadline.wait(for: "zoe's download to start") { TestFiles.size(work.file("down")) > 0 }
        #expect(SessionProcesses.accountWorkers(s.server.process.pid, root: other).count == 1)
        #expect(kill(try #require(anonymousWorkers.first), SIGSEGV) == 0)
        #expect(victim.isClosedByServer())
        #expect(neighbour.isClosedByServer(), "the same worker's other session ends with it")
        #expect(try curl.waitForExit(seconds: 60) == 0, "\(curl.output)")
        try expectSameBytes("\(other)/big.bin", work.file("down"))
        #expect(zoeIdle.command("NOOP")?.hasPrefix("200") == true)
        #expect(try s.control(login: .anonymous).command("NOOP")?.hasPrefix("200") == true, "a new worker for anonymous")
        try Deadline.wait(for: "the crash logged by the listener") {
            s.server.process.stderr.contains("account worker ended by signal \(SIGSEGV)")
        }
    }
}
