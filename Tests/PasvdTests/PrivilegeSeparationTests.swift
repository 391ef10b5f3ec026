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
        #expect(server.process.stderr.contains("session runs as \(Self.testAccount) (uid \(uid)"), "\(server.process.stderr)")
        #expect(server.process.stderr.contains("session runs as nobody"))
    }

    @Test func aCrashingSessionLeavesTheOthersRunning() throws {
        let s = try PasvdScenario()
        try TestFiles.random(at: s.path("big.bin"), size: 24 << 20)
        let work = try TempDirectory("crash")
        let downloads = try (0..<2).map { index in
            try ManagedProcess(try which("curl"), ["-sS", "--limit-rate", "4M", "-o", work.file("down\(index)"),
                                                   s.url(.anonymous, "big.bin")])
        }
        let workers = try Deadline.value(of: "two session workers transferring") { () -> [pid_t]? in
            let started = (0..<2).allSatisfy { TestFiles.size(work.file("down\($0)")) > 0 }
            let pids = ProcessTree.descendants(of: s.server.process.pid)
            return started && pids.count == 2 ? pids : nil
        }
        #expect(kill(workers[0], SIGSEGV) == 0)
        let statuses = try downloads.map { try $0.waitForExit(seconds: 60) }
        #expect(statuses.filter { $0 == 0 }.count == 1, "exactly the other download completes: \(statuses)")
        for (index, status) in statuses.enumerated() where status == 0 {
            try expectSameBytes(s.path("big.bin"), work.file("down\(index)"))
        }
        #expect(s.server.process.isRunning)
        #expect(try s.control(login: .anonymous).command("NOOP")?.hasPrefix("200") == true)
        try Deadline.wait(for: "the crash logged by the listener") {
            s.server.process.stderr.contains("session worker ended by signal \(SIGSEGV)")
        }
    }
}
