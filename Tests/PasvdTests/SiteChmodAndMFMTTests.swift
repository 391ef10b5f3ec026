import Foundation
import Testing
import TestSupport

/// SITE CHMOD and MFMT on the real pasvd (FileZilla's permissions dialog and "preserve timestamps", web-authoring
/// tools): permission bits and modification times change on the served files, setuid/sticky bits never do, and a
/// read-only session changes nothing.
@Suite(.serialized) struct SiteChmodAndMFMTTests {
    @Test func aWritableSessionSetsPermissionsAndTimes() throws {
        let root = try TempDirectory("chmod-root")
        let file = try root.write("f.txt", "hello", mode: 0o644)
        _ = try root.makeDirectory("d")
        let pasvd = try PasvdFixture(root: root.path, extraArguments: ["--anonymous", "--writable"])
        let result = try FTPClients.python(host: pasvd.host, port: pasvd.port, body: """
        print("FEAT", "MFMT" in ftp.sendcmd("FEAT"))
        print("CHMOD", ftp.sendcmd("SITE CHMOD 600 f.txt")[:3])
        print("CHMODDIR", ftp.sendcmd("SITE CHMOD 700 d")[:3])
        for command in ["SITE CHMOD 4755 f.txt", "SITE CHMOD 1777 d", "SITE CHMOD 9 f.txt", "SITE CHMOD 644 missing"]:
            try:
                print("REFUSED", command, ftp.sendcmd(command)[:3])
            except ftplib.error_perm as e:
                print("REFUSED", command, str(e)[:3])
        print("MFMT", ftp.sendcmd("MFMT 20200101000000 f.txt")[:3])
        print("MDTM", ftp.sendcmd("MDTM f.txt"))
        """)
        #expect(result.status == 0, "\(result.output)")
        let out = result.stdout
        #expect(out.contains("FEAT True"), "\(out)")
        #expect(out.contains("CHMOD 200"), "\(out)")
        #expect(out.contains("CHMODDIR 200"), "\(out)")
        #expect(out.contains("REFUSED SITE CHMOD 4755 f.txt 550"), "\(out)")
        #expect(out.contains("REFUSED SITE CHMOD 1777 d 550"), "\(out)")
        #expect(out.contains("REFUSED SITE CHMOD 9 f.txt 501"), "\(out)")
        #expect(out.contains("REFUSED SITE CHMOD 644 missing 550"), "\(out)")
        #expect(out.contains("MFMT 213"), "\(out)")
        #expect(out.contains("MDTM 213 20200101000000"), "\(out)")
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 == 1_577_836_800)
        let directory = try FileManager.default.attributesOfItem(atPath: root.file("d"))
        #expect((directory[.posixPermissions] as? Int) == 0o700)
    }

    @Test func aReadOnlySessionChangesNothing() throws {
        let root = try TempDirectory("chmod-root")
        let file = try root.write("f.txt", "hello", mode: 0o644)
        let before = try FileManager.default.attributesOfItem(atPath: file)[.modificationDate] as? Date
        let pasvd = try PasvdFixture(root: root.path, extraArguments: ["--anonymous"])
        let result = try FTPClients.python(host: pasvd.host, port: pasvd.port, body: """
        for command in ["SITE CHMOD 600 f.txt", "MFMT 20200101000000 f.txt"]:
            try:
                print("REFUSED", command, ftp.sendcmd(command)[:3])
            except ftplib.error_perm as e:
                print("REFUSED", command, str(e)[:3])
        """)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("REFUSED SITE CHMOD 600 f.txt 550"), "\(result.stdout)")
        #expect(result.stdout.contains("REFUSED MFMT 20200101000000 f.txt 550"), "\(result.stdout)")
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect((attributes[.posixPermissions] as? Int) == 0o644)
        #expect((attributes[.modificationDate] as? Date) == before)
    }
}
