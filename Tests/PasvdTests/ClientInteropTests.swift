import Foundation
import Testing
import TestSupport

/// curl, lftp and Python ftplib against the real pasvd: each logs in (anonymous, an `openssl passwd -6`
/// user, a `pasvd passwd` user), lists, downloads, uploads, resumes, renames, deletes, makes and removes
/// directories. Every transfer is hashed at both ends.
@Suite struct ClientInteropTests {
    static let payloadSize = 3 << 20 + 12_345

    @Test(arguments: PasvdLogin.all)
    func curl(_ login: PasvdLogin) throws {
        let s = try PasvdScenario()
        let work = try TempDirectory("curl")
        try TestFiles.random(at: s.path("data.bin"), size: Self.payloadSize)
        _ = try FileManager.default.createDirectory(atPath: s.path("dir"), withIntermediateDirectories: true)

        let list = try FTPClients.curl([s.url(login)])
        expectSuccess(list, "LIST")
        #expect(list.stdout.contains("data.bin") && list.stdout.contains(" dir"))
        let mlsd = try FTPClients.curl(["-X", "MLSD", s.url(login)])
        expectSuccess(mlsd, "MLSD")
        #expect(mlsd.stdout.contains("type=file;size=\(Self.payloadSize);"))
        #expect(mlsd.stdout.contains("type=dir;"))

        expectSuccess(try FTPClients.curl(["-o", work.file("down.bin"), s.url(login, "data.bin")]), "download")
        try expectSameBytes(s.path("data.bin"), work.file("down.bin"))

        try TestFiles.random(at: work.file("up.bin"), size: Self.payloadSize, seed: 7)
        expectSuccess(try FTPClients.curl(["-T", work.file("up.bin"), s.url(login, "dir/up.bin")]), "upload")
        try expectSameBytes(work.file("up.bin"), s.path("dir/up.bin"))

        // Resume a download (REST + RETR) and an upload (SIZE, then REST + STOR or APPE).
        try writePrefix(of: s.path("data.bin"), count: 1 << 20, to: work.file("partial.bin"))
        expectSuccess(try FTPClients.curl(["-C", "-", "-o", work.file("partial.bin"), s.url(login, "data.bin")]), "resume download")
        try expectSameBytes(s.path("data.bin"), work.file("partial.bin"))
        try writePrefix(of: work.file("up.bin"), count: 1 << 20, to: s.path("dir/resumed.bin"))
        expectSuccess(try FTPClients.curl(["-C", "-", "-T", work.file("up.bin"), s.url(login, "dir/resumed.bin")]), "resume upload")
        try expectSameBytes(work.file("up.bin"), s.path("dir/resumed.bin"))

        expectSuccess(try FTPClients.curl(["-o", "/dev/null", "-Q", "RNFR dir/up.bin", "-Q", "RNTO dir/moved.bin", s.url(login)]), "rename")
        #expect(!fileExists(s.path("dir/up.bin")))
        try expectSameBytes(work.file("up.bin"), s.path("dir/moved.bin"))
        expectSuccess(try FTPClients.curl(["-o", "/dev/null", "-Q", "DELE dir/moved.bin", "-Q", "MKD made", s.url(login)]), "delete, mkdir")
        #expect(!fileExists(s.path("dir/moved.bin")))
        #expect(fileExists(s.path("made")))
        expectSuccess(try FTPClients.curl(["-o", "/dev/null", "-Q", "RMD made", s.url(login)]), "rmdir")
        #expect(!fileExists(s.path("made")))
        #expect(temporaryUploads(in: s.path("dir")).isEmpty)
    }

    @Test(arguments: PasvdLogin.all)
    func lftp(_ login: PasvdLogin) throws {
        let s = try PasvdScenario()
        let work = try TempDirectory("lftp")
        try TestFiles.random(at: s.path("data.bin"), size: Self.payloadSize)
        try TestFiles.random(at: work.file("up.bin"), size: Self.payloadSize, seed: 11)
        try writePrefix(of: s.path("data.bin"), count: 1 << 20, to: work.file("partial.bin"))
        try writePrefix(of: work.file("up.bin"), count: 1 << 20, to: s.path("resumed.bin"))
        let url = "ftp://\(s.host):\(s.port)"
        let result = try FTPClients.lftp(url: url, user: login.user, password: login.password, script: [
            "set ftp:use-mlsd on", "cls -l", "ls",
            "get data.bin -o \(work.file("down.bin"))",
            "get -c data.bin -o \(work.file("partial.bin"))",
            "put \(work.file("up.bin")) -o up.bin",
            "put -c \(work.file("up.bin")) -o resumed.bin",
            "mv up.bin moved.bin", "mkdir made", "rmdir made", "rm resumed.bin",
        ])
        expectSuccess(result, "lftp")
        #expect(result.stdout.contains("data.bin"))
        try expectSameBytes(s.path("data.bin"), work.file("down.bin"))
        try expectSameBytes(s.path("data.bin"), work.file("partial.bin"))
        try expectSameBytes(work.file("up.bin"), s.path("moved.bin"))
        #expect(!fileExists(s.path("up.bin")) && !fileExists(s.path("made")) && !fileExists(s.path("resumed.bin")))
        #expect(temporaryUploads(in: s.root).isEmpty)
    }

    @Test(arguments: PasvdLogin.all)
    func pythonFtplib(_ login: PasvdLogin) throws {
        let s = try PasvdScenario()
        let work = try TempDirectory("ftplib")
        try TestFiles.random(at: s.path("data.bin"), size: Self.payloadSize)
        try TestFiles.random(at: work.file("up.bin"), size: Self.payloadSize, seed: 13)
        try writePrefix(of: work.file("up.bin"), count: 1 << 20, to: s.path("resumed.bin"))
        let body = """
        out, up, half = sys.argv[1], sys.argv[2], 1 << 20
        lines = []
        ftp.retrlines('LIST', lines.append)
        assert any(l.endswith(' data.bin') for l in lines), lines
        facts = dict(ftp.mlsd())
        assert facts['data.bin']['type'] == 'file' and facts['data.bin']['size'] == '\(Self.payloadSize)', facts
        assert 'data.bin' in ftp.nlst()
        with open(out, 'wb') as f: ftp.retrbinary('RETR data.bin', f.write)
        with open(out + '.tail', 'wb') as f: ftp.retrbinary('RETR data.bin', f.write, rest=half)
        with open(up, 'rb') as f: ftp.storbinary('STOR up.bin', f)
        with open(up, 'rb') as f:
            f.seek(half)
            ftp.storbinary('STOR resumed.bin', f, rest=half)
        with open(up, 'rb') as f: print('STOU', ftp.storbinary('STOU', f))
        assert ftp.size('up.bin') == \(Self.payloadSize)
        ftp.rename('up.bin', 'moved.bin')
        print('MKD', ftp.mkd('made'))
        ftp.cwd('made'); assert ftp.pwd() == '/made'; ftp.cwd('..')
        ftp.rmd('made')
        print('OK')
        """
        let result = try FTPClients.python(host: s.host, port: s.port, user: login.user, password: login.password,
                                           body: body, args: [work.file("down.bin"), work.file("up.bin")])
        expectSuccess(result, "ftplib")
        #expect(result.stdout.contains("OK"))
        try expectSameBytes(s.path("data.bin"), work.file("down.bin"))
        try writePrefix(of: s.path("data.bin"), count: 1 << 20, to: work.file("head.bin"))
        let joined = try Data(contentsOf: URL(fileURLWithPath: work.file("head.bin")))
            + Data(contentsOf: URL(fileURLWithPath: work.file("down.bin.tail")))
        try joined.write(to: URL(fileURLWithPath: work.file("joined.bin")))
        try expectSameBytes(s.path("data.bin"), work.file("joined.bin"))
        try expectSameBytes(work.file("up.bin"), s.path("moved.bin"))
        try expectSameBytes(work.file("up.bin"), s.path("resumed.bin"))
        try expectSameBytes(work.file("up.bin"), s.path("upload"))
        #expect(!fileExists(s.path("up.bin")) && !fileExists(s.path("made")))
        #expect(temporaryUploads(in: s.root).isEmpty)
    }
}
