import Foundation
import Testing
import TestSupport

/// `pasvd passwd` against a running server, and what the log records (never a password).
@Suite struct AccountsAndLoggingTests {
    @Test func passwdChangesAPasswordWithoutRestart() throws {
        let s = try PasvdScenario()
        let changed = PasvdLogin(kind: .pasvdPasswd, user: PasvdLogin.passwdUser.user, password: "a brand new one")
        try PasvdScenario.addUser(file: s.usersFile, login: changed, root: s.root)
        let attributes = try FileManager.default.attributesOfItem(atPath: s.usersFile)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let text = try String(contentsOfFile: s.usersFile, encoding: .utf8)
        #expect(text.contains("\(changed.user):$y$") && text.hasSuffix(":\(s.root)\n"))
        #expect(text.contains("\(PasvdLogin.opensslUser.user):$6$"), "other users are kept")
        _ = try s.control(login: changed)
        let old = try s.control()
        _ = old.command("USER \(changed.user)")
        #expect(old.command("PASS \(PasvdLogin.passwdUser.password)") == "530 Login incorrect.")
        let empty = try runCommand(try Products.pasvd, ["passwd", "--users", s.usersFile, "eve"], input: "\n")
        #expect(empty.status != 0 && empty.stderr.contains("empty"))
    }

    @Test func logRecordsSessionsAndTransfersButNoPassword() throws {
        let log = try TempDirectory("log")
        let s = try PasvdScenario(extraArguments: ["-v", "--log-file", log.file("pasvd.log")])
        try TestFiles.random(at: s.path("f.bin"), size: 100_000)
        let work = try TempDirectory("logclient")
        expectSuccess(try FTPClients.curl(["-o", work.file("f.bin"), s.url(.opensslUser, "f.bin")]), "download")
        try expectSameBytes(s.path("f.bin"), work.file("f.bin"))
        try Deadline.wait(for: "session end logged") {
            ((try? String(contentsOfFile: log.file("pasvd.log"), encoding: .utf8)) ?? "").contains("disconnected")
        }
        let text = try String(contentsOfFile: log.file("pasvd.log"), encoding: .utf8)
        #expect(text.contains("connected") && text.contains("login") && text.contains("user=olivia"))
        #expect(text.contains("RETR /f.bin 97.7 KiB") && text.contains("bytes=100000") && text.contains("path=/f.bin"))
        #expect(text.contains("rate="))
        #expect(text.contains("PASS ****"))
        #expect(!text.contains(PasvdLogin.opensslUser.password))
    }
}
