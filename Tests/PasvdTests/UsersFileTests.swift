import Foundation
import Testing
import TestSupport
@testable import pasvd

@Suite struct UsersFileTests {
    @Test func parsesAndValidates() throws {
        let sha = "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/"
        let file = try UsersFile.parse("# comment\n\nalice:\(sha):/srv/alice\nbob:\(sha):\n", path: "u")
        #expect(file.records.map(\.name) == ["alice", "bob"])
        #expect(file.record(named: "bob")?.root == "")
        #expect(throws: UsersFileError.malformed(path: "u", line: 1)) { try UsersFile.parse("alice", path: "u") }
        #expect(throws: UsersFileError.badHash(path: "u", line: 2)) { try UsersFile.parse("\nalice:secret:/x", path: "u") }
        #expect(throws: UsersFileError.relativeRoot(path: "u", line: 1)) { try UsersFile.parse("a:\(sha):rel", path: "u") }
        #expect(throws: UsersFileError.duplicate(path: "u", line: 2, name: "a")) {
            try UsersFile.parse("a:\(sha):\na:\(sha):", path: "u")
        }
    }

    @Test func optionalSystemAccountField() throws {
        let sha = "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/"
        let file = try UsersFile.parse("alice:\(sha):/srv/alice:alice-ftp\nbob:\(sha)::\ncarol:\(sha):", path: "u")
        #expect(file.records.map(\.account) == ["alice-ftp", nil, nil])
        #expect(file.record(named: "alice")?.line == "alice:\(sha):/srv/alice:alice-ftp")
        #expect(throws: UsersFileError.badAccount(path: "u", line: 1)) { try UsersFile.parse("a:\(sha):/r:bad name", path: "u") }
        #expect(throws: UsersFileError.badAccount(path: "u", line: 1)) { try UsersFile.parse("a:\(sha):/r:x:y", path: "u") }
    }

    @Test func cryptVerifiesOpenSSLAndOwnHashes() throws {
        let openssl = try runChecked("openssl", ["passwd", "-6", "-stdin"], input: "s3cret\n").stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(CryptHash.isSupported(openssl))
        #expect(CryptHash.verify(password: "s3cret", hash: openssl))
        #expect(!CryptHash.verify(password: "s3cret!", hash: openssl))
        let own = try CryptHash.make(password: "pässwörd")
        #expect(own.hasPrefix("$y$"))
        #expect(CryptHash.verify(password: "pässwörd", hash: own))
        #expect(!CryptHash.verify(password: "passwort", hash: own))
        #expect(!CryptHash.isSupported("abJnggxhB/yWI"))  // traditional DES: refused
    }
}
