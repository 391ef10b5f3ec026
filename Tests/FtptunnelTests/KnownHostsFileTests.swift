import Foundation
import TunnelCore
import Testing
import TestSupport
@testable import ftptunnel

/// The pure known_hosts parser and matcher.
@Suite struct KnownHostsFileTests {
    static let keyA = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    static let keyB = "AAAAC3NzaC1lZDI1NTE5AAAAIE4W0cEXoU1hOvX3nqF7kZq5N5xq0xw1mI3Y6Q3v1lSx"

    /// `|1|salt|hash` for `name` with a fixed salt, as ssh-keygen -H writes it.
    static func hashed(_ name: String) -> String {
        let salt = Array("0123456789abcdefghij".utf8)
        let hash = Digest.hmacSHA1(key: salt, message: Array(name.utf8))
        return "|1|\(Data(salt).base64EncodedString())|\(Data(hash).base64EncodedString())"
    }

    @Test func plainHostOnPort22() {
        let file = KnownHostsFile(path: "kh", contents: "server.example ssh-ed25519 \(Self.keyA)\n")
        #expect(file.entries(forHost: "server.example", port: 22).count == 1)
        #expect(file.entries(forHost: "server.example", port: 2222).isEmpty)
        #expect(file.entries(forHost: "SERVER.example", port: 22).count == 1)
    }

    @Test func bracketedHostAndPort() {
        let file = KnownHostsFile(path: "kh", contents: "[127.0.0.1]:2222 ssh-ed25519 \(Self.keyA)\n")
        #expect(file.entries(forHost: "127.0.0.1", port: 2222).count == 1)
        #expect(file.entries(forHost: "127.0.0.1", port: 22).isEmpty)
        #expect(KnownHostsFile.hostName("h", port: 22) == "h")
        #expect(KnownHostsFile.hostName("h", port: 2200) == "[h]:2200")
    }

    @Test func commaListsWildcardsAndNegation() {
        let file = KnownHostsFile(path: "kh", contents: "alpha,beta.example,10.0.0.1 ssh-ed25519 \(Self.keyA)\n*.corp,!bad.corp ssh-ed25519 \(Self.keyB)\n")
        #expect(file.entries(forHost: "beta.example", port: 22).count == 1)
        #expect(file.entries(forHost: "10.0.0.1", port: 22).count == 1)
        #expect(file.entries(forHost: "gamma", port: 22).isEmpty)
        #expect(file.entries(forHost: "x.corp", port: 22).count == 1)
        #expect(file.entries(forHost: "bad.corp", port: 22).isEmpty)
    }

    @Test func hashedEntries() {
        let contents = "\(Self.hashed("[127.0.0.1]:2222")) ssh-ed25519 \(Self.keyA)\n\(Self.hashed("plain.example")) ssh-ed25519 \(Self.keyB)\n"
        let file = KnownHostsFile(path: "kh", contents: contents)
        #expect(file.entries(forHost: "127.0.0.1", port: 2222).first?.keyBase64 == Self.keyA)
        #expect(file.entries(forHost: "127.0.0.1", port: 22).isEmpty)
        #expect(file.entries(forHost: "plain.example", port: 22).first?.line == 2)
        #expect(KnownHostsHostField(Array("|1|garbage|".utf8)) == nil)
    }

    @Test func commentsBlankLinesAndMarkers() {
        let contents = """
        # a comment ssh-ed25519 \(Self.keyA)

        @cert-authority *.example ssh-ed25519 \(Self.keyB)
        @revoked * ssh-ed25519 \(Self.keyB)
        @unknown-marker host ssh-ed25519 \(Self.keyB)
        host.example ssh-ed25519 \(Self.keyA) comment words
        broken-line-without-key
        """
        let file = KnownHostsFile(path: "kh", contents: contents)
        #expect(file.entries.count == 3)
        #expect(file.entries(forHost: "host.example", port: 22).map(\.line) == [6])
        #expect(file.entries(forHost: "a.example", port: 22).isEmpty)
        #expect([file].status(host: "any", port: 22, keyType: "ssh-ed25519", keyBase64: Self.keyB) == .revoked(file: "kh", line: 4))
    }

    /// An ECDSA key (ssh-keygen -t ecdsa): the parser reads only complete keys of the type their line names.
    static let keyC = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBD5N1h/xbZxCO2zS/fOhytqWAg395Gy+LW2QFQgyiUEjjn78Q4IVv4CpKAekX028OL628R9c+QJ/DQM5MMH8syk="

    static func recorded(_ file: String, _ line: Int, _ type: String, _ key: String) -> HostKeyStatus.Recorded {
        HostKeyStatus.Recorded(file: file, line: line, keyType: type, keyBase64: key)
    }

    @Test func statusKnownChangedUnknown() {
        let file = KnownHostsFile(path: "kh", contents: "# x\nh ssh-ed25519 \(Self.keyA)\n")
        let files = [file]
        #expect(files.status(host: "h", port: 22, keyType: "ssh-ed25519", keyBase64: Self.keyA) == .known(file: "kh", line: 2))
        #expect(files.status(host: "h", port: 22, keyType: "ssh-ed25519", keyBase64: Self.keyB)
                == .changed(recorded: [Self.recorded("kh", 2, "ssh-ed25519", Self.keyA)]))
        #expect(files.status(host: "other", port: 22, keyType: "ssh-ed25519", keyBase64: Self.keyA) == .unknown)
        #expect(files.keyTypes(host: "h", port: 22) == ["ssh-ed25519"])
    }

    /// The MITM hole: a key of another type than the recorded one is a changed key, not a new one.
    @Test func keyOfAnotherTypeThanTheRecordedOneIsChanged() {
        let files = [KnownHostsFile(path: "kh", contents: "[127.0.0.1]:2222 ssh-ed25519 \(Self.keyA)\n")]
        #expect(files.status(host: "127.0.0.1", port: 2222, keyType: "ecdsa-sha2-nistp256", keyBase64: Self.keyC)
                == .changed(recorded: [Self.recorded("kh", 1, "ssh-ed25519", Self.keyA)]))
        // The same key on another port is another host: unknown there.
        #expect(files.status(host: "127.0.0.1", port: 2223, keyType: "ecdsa-sha2-nistp256", keyBase64: Self.keyC) == .unknown)
    }

    @Test func anyRecordedKeyOfTheHostMatchesAndAMismatchNamesThemAll() {
        let contents = "h ssh-ed25519 \(Self.keyA)\nother ssh-ed25519 \(Self.keyB)\nh ecdsa-sha2-nistp256 \(Self.keyC)\n"
        let files = [KnownHostsFile(path: "kh", contents: contents)]
        #expect(files.status(host: "h", port: 22, keyType: "ecdsa-sha2-nistp256", keyBase64: Self.keyC) == .known(file: "kh", line: 3))
        #expect(files.status(host: "h", port: 22, keyType: "ssh-ed25519", keyBase64: Self.keyA) == .known(file: "kh", line: 1))
        #expect(files.status(host: "h", port: 22, keyType: "ssh-ed25519", keyBase64: Self.keyB)
                == .changed(recorded: [Self.recorded("kh", 1, "ssh-ed25519", Self.keyA), Self.recorded("kh", 3, "ecdsa-sha2-nistp256", Self.keyC)]))
        #expect(files.keyTypes(host: "h", port: 22) == ["ssh-ed25519", "ecdsa-sha2-nistp256"])
    }

    /// User and system files count alike: a record in either makes a foreign key "changed"; a match in either is known.
    @Test func everyFileCountsUserAndSystem() {
        let user = KnownHostsFile(path: "user", contents: "h ssh-ed25519 \(Self.keyA)\n")
        let system = KnownHostsFile(path: "system", contents: "# managed\nh ecdsa-sha2-nistp256 \(Self.keyC)\n")
        let empty = KnownHostsFile(path: "empty", contents: "")
        #expect([empty, system].status(host: "h", port: 22, keyType: "ssh-ed25519", keyBase64: Self.keyA)
                == .changed(recorded: [Self.recorded("system", 2, "ecdsa-sha2-nistp256", Self.keyC)]))
        #expect([user, system].status(host: "h", port: 22, keyType: "ecdsa-sha2-nistp256", keyBase64: Self.keyC) == .known(file: "system", line: 2))
        #expect([user, system].status(host: "h", port: 22, keyType: "ssh-ed25519", keyBase64: Self.keyB)
                == .changed(recorded: [Self.recorded("user", 1, "ssh-ed25519", Self.keyA), Self.recorded("system", 2, "ecdsa-sha2-nistp256", Self.keyC)]))
        #expect([empty, empty].status(host: "h", port: 22, keyType: "ssh-ed25519", keyBase64: Self.keyA) == .unknown)
    }

    /// `@revoked` wins over a plain record of the same key; revoked and CA lines are not "keys on record".
    @Test func revokedBeforeKnownAndMarkersAreNoRecord() {
        let contents = "h ssh-ed25519 \(Self.keyA)\n@revoked h ssh-ed25519 \(Self.keyA)\n@cert-authority h ssh-ed25519 \(Self.keyB)\n"
        let files = [KnownHostsFile(path: "kh", contents: contents)]
        #expect(files.status(host: "h", port: 22, keyType: "ssh-ed25519", keyBase64: Self.keyA) == .revoked(file: "kh", line: 2))
        let markersOnly = [KnownHostsFile(path: "kh", contents: "@cert-authority h ssh-ed25519 \(Self.keyB)\n")]
        #expect(markersOnly.status(host: "h", port: 22, keyType: "ecdsa-sha2-nistp256", keyBase64: Self.keyC) == .unknown)
    }

    @Test func changedKeyMessageNamesBothFingerprintsAndEveryLine() {
        let recorded = [Self.recorded("/u/kh", 4, "ssh-ed25519", Self.keyA), Self.recorded("/etc/ssh/ssh_known_hosts", 7, "ssh-ed25519", Self.keyB)]
        let presented = Fingerprint.sha256(ofKeyBase64: Self.keyC)
        let text = SSHError.hostKeyChanged(host: "[h]:2222", keyType: "ecdsa-sha2-nistp256", presented: presented, recorded: recorded).description
        #expect(text.contains("CHANGED"))
        #expect(text.contains("ecdsa-sha2-nistp256 key \(presented)"), "\(text)")
        #expect(text.contains("ssh-ed25519 \(Fingerprint.sha256(ofKeyBase64: Self.keyA)) (/u/kh:4)"), "\(text)")
        #expect(text.contains("ssh-ed25519 \(Fingerprint.sha256(ofKeyBase64: Self.keyB)) (/etc/ssh/ssh_known_hosts:7)"), "\(text)")
        #expect(text.contains("ssh-keygen -R '[h]:2222' -f /u/kh; ssh-keygen -R '[h]:2222' -f /etc/ssh/ssh_known_hosts"), "\(text)")
    }

    @Test func lineForNewKeys() {
        #expect(KnownHostsFile.line(host: "h", port: 22, keyType: "ssh-ed25519", keyBase64: "K") == "h ssh-ed25519 K")
        #expect(KnownHostsFile.line(host: "127.0.0.1", port: 2022, keyType: "ssh-ed25519", keyBase64: "K") == "[127.0.0.1]:2022 ssh-ed25519 K")
    }

    @Test func fingerprintIsUnpaddedBase64OfSHA256() {
        let fingerprint = Fingerprint.sha256(ofKeyBase64: Self.keyA)
        #expect(fingerprint.hasPrefix("SHA256:"))
        #expect(!fingerprint.contains("="))
        #expect(fingerprint.count == "SHA256:".count + 43)
    }

    /// The reader: a missing file is empty; a directory, or a file larger than the bound (sparse here), is an error
    /// that names the file, never a file read in part.
    @Test func readerRefusesWhatItCannotReadWhole() throws {
        let dir = try TempDirectory("kh-reader")
        #expect(try KnownHostsReader.load(dir.file("missing")).entries.isEmpty)
        #expect(throws: KnownHostsError.unreadable(file: dir.path, reason: "it is a directory")) { try KnownHostsReader.load(dir.path) }
        let big = try dir.write("big", "h ssh-ed25519 \(Self.keyA)\n")
        #expect(truncate(big, off_t(KnownHostsFile.maximumFileBytes + 1)) == 0)
        #expect(throws: KnownHostsError.tooLarge(file: big, bytes: KnownHostsFile.maximumFileBytes + 1)) { try KnownHostsReader.load(big) }
        #expect(truncate(big, off_t(KnownHostsFile.maximumFileBytes)) == 0)
        #expect(try KnownHostsReader.load(big).entries.count == 1)
        #expect(SSHError.knownHostsUnreadable(.tooLarge(file: "/k\u{1B}h", bytes: 1)).description.contains("/k\\033h"))
    }
}
