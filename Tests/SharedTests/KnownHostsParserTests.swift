import Foundation
import ProgramSupport
import TunnelCore
import Testing

/// known_hosts read as bytes, line by line: what one line holds never changes how another is read.
@Suite struct KnownHostsParserTests {
    static let keyA = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    static let keyB = "AAAAC3NzaC1lZDI1NTE5AAAAIE4W0cEXoU1hOvX3nqF7kZq5N5xq0xw1mI3Y6Q3v1lSx"
    static let rsa = "AAAAB3NzaC1yc2EAAAADAQABAAAAgQCjtthku/L9kN3EZWc3e/0VueQ2SWR2YMYATNwKp4syfZ+F74BDBeT//04xSw/wgFLN1TUy8hcApoG/qTO2p4r5c/cAxlVYRzTrhoLg3KFvMn7NMvBjwzAdUYXGx/QaJ3SKAs7JFKkNlnomcresS8cHoYClIevEaVpFWnWjnstvIQ=="
    static let host = "[127.0.0.1]:2222"

    static func blob(_ base64: String) -> [UInt8] { Array(Data(base64Encoded: base64)!) }

    static func file(_ bytes: [UInt8]) -> KnownHostsFile { KnownHostsFile(path: "kh", bytes: bytes) }

    static func status(_ file: KnownHostsFile, key: String) -> HostKeyStatus {
        [file].status(host: "127.0.0.1", port: 2222, keyType: "ssh-ed25519", keyBlob: blob(key))
    }

    /// The file: the recorded key, then a comment with a Latin-1 byte. The other key is still a changed key.
    @Test func latin1CommentKeepsTheChangedKeyCheck() {
        let bytes = Array("\(Self.host) ssh-ed25519 \(Self.keyA)\n# caf".utf8) + [0xE9] + [10]
        let file = Self.file(bytes)
        #expect(file.entries.map(\.line) == [1])
        #expect(file.skipped.isEmpty)
        #expect(Self.status(file, key: Self.keyB) == .changed(recorded: [HostKeyStatus.Recorded(file: "kh", line: 1, keyType: "ssh-ed25519", keyBase64: Self.keyA)]))
        #expect(Self.status(file, key: Self.keyA) == .known(file: "kh", line: 1))
    }

    /// Latin-1 in a host field or a trailing comment: that line is read as bytes, the others as usual.
    @Test func latin1BytesInHostFieldAndComment() {
        let bytes = Array("caf".utf8) + [0xE9] + Array(" ssh-ed25519 \(Self.keyB)\n\(Self.host) ssh-ed25519 \(Self.keyA) owner ".utf8) + [0xE9, 10]
        let file = Self.file(bytes)
        #expect(file.entries.map(\.line) == [1, 2])
        #expect(file.entries(forHost: "127.0.0.1", port: 2222).map(\.line) == [2])
        #expect([file].status(host: "caf\u{E9}", port: 22, keyType: "ssh-ed25519", keyBlob: Self.blob(Self.keyB)) == .unknown,
                "a UTF-8 é is not the Latin-1 byte")
    }

    @Test func crlfLineEndsAreAccepted() {
        let file = Self.file(Array("# managed on Windows\r\n\(Self.host) ssh-ed25519 \(Self.keyA)\r\nother ssh-ed25519 \(Self.keyB)\r\n".utf8))
        #expect(file.skipped.isEmpty)
        #expect(Self.status(file, key: Self.keyA) == .known(file: "kh", line: 2))
        #expect(file.entries[0].keyBlob == Self.blob(Self.keyA))
        #expect(file.entries(forHost: "other", port: 22).count == 1)
    }

    @Test func commentsBlankLinesAndLeadingBlanks() {
        let file = Self.file(Array("\n   \n\t# x\n  # \(Self.host) ssh-ed25519 \(Self.keyB)\n \t\(Self.host)\tssh-ed25519  \(Self.keyA) c d\n".utf8))
        #expect(file.skipped.isEmpty)
        #expect(file.entries.map(\.line) == [5])
        #expect(Self.status(file, key: Self.keyA) == .known(file: "kh", line: 5))
    }

    @Test func hashedHostAndPort() {
        let salt = Array("0123456789abcdefghij".utf8)
        let hash = Digest.hmacSHA1(key: salt, message: Array(Self.host.utf8))
        let field = "|1|\(Data(salt).base64EncodedString())|\(Data(hash).base64EncodedString())"
        let file = Self.file(Array("\(field) ssh-ed25519 \(Self.keyA)\n|1|c2hvcnQ=|\(Data(hash).base64EncodedString()) ssh-ed25519 \(Self.keyB)\n|2|x|y ssh-ed25519 \(Self.keyB)\n".utf8))
        #expect(Self.status(file, key: Self.keyA) == .known(file: "kh", line: 1))
        #expect(file.skipped == [.init(line: 2, reason: .badHostField), .init(line: 3, reason: .badHostField)])
        #expect([file].status(host: "127.0.0.1", port: 22, keyType: "ssh-ed25519", keyBlob: Self.blob(Self.keyA)) == .unknown)
    }

    @Test func bracketedPortsAndPatterns() {
        let file = Self.file(Array("[127.0.0.1]:2222,[127.0.0.1]:2223 ssh-ed25519 \(Self.keyA)\n[127.0.0.?]:22* ssh-ed25519 \(Self.keyB)\n".utf8))
        #expect(file.entries(forHost: "127.0.0.1", port: 2223).map(\.line) == [1, 2])
        #expect(file.entries(forHost: "127.0.0.9", port: 2299).map(\.line) == [2])
        #expect(file.entries(forHost: "127.0.0.1", port: 22).isEmpty)
    }

    /// As OpenSSH: @revoked refuses the key, @cert-authority holds no plain host key, another marker skips the line.
    @Test func markers() {
        let file = Self.file(Array("@revoked * ssh-ed25519 \(Self.keyB)\n@cert-authority \(Self.host) ssh-ed25519 \(Self.keyA)\n@trusted \(Self.host) ssh-ed25519 \(Self.keyA)\n".utf8))
        #expect(file.skipped == [.init(line: 3, reason: .unknownMarker)])
        #expect(Self.status(file, key: Self.keyB) == .revoked(file: "kh", line: 1))
        #expect(Self.status(file, key: Self.keyA) == .unknown)
    }

    @Test func nulBytes() {
        var bytes = Array("\(Self.host) ssh-ed25519 \(Self.keyA) comment ".utf8) + [0, 0x41, 10]
        bytes += Array("other ssh-ed25519 AAAA".utf8) + [0] + Array("\(Self.keyB.dropFirst(4))\n".utf8)
        bytes += [0, 10]
        let file = Self.file(bytes)
        #expect(Self.status(file, key: Self.keyA) == .known(file: "kh", line: 1), "a NUL in the comment does not matter")
        #expect(file.skipped == [.init(line: 2, reason: .nulByte), .init(line: 3, reason: .missingFields)])
    }

    @Test func veryLongLinesAreSkippedAloneAndAtTheLimitRead() {
        let long = Array(repeating: UInt8(ascii: "a"), count: KnownHostsFile.maximumLineBytes + 1)
        let names = (0..<3000).map { "host\($0).example" }.joined(separator: ",")
        let longComment = Array("  # ".utf8) + long
        let bytes = long + [10] + longComment + [10] + Array("\(names),\(Self.host) ssh-ed25519 \(Self.keyA)\n".utf8)
        let file = Self.file(bytes)
        #expect(file.skipped == [.init(line: 1, reason: .tooLong(bytes: KnownHostsFile.maximumLineBytes + 1))])
        #expect(Self.status(file, key: Self.keyB) == .changed(recorded: [.init(file: "kh", line: 3, keyType: "ssh-ed25519", keyBase64: Self.keyA)]))
    }

    @Test func truncatedOrMislabelledKeysAreSkipped() {
        let truncated = String(Self.rsa.dropLast(8))
        let file = Self.file(Array("""
        h ssh-rsa \(truncated)
        h ssh-ed25519 \(Self.rsa)
        h ssh-rsa \(Self.rsa.dropLast(2))
        h ssh-rsa not*base64
        h ssh-rsa
        h ssh/rsa \(Self.rsa)
        h ssh-ed25519 \(Self.keyA)
        """.utf8))
        #expect(file.skipped.map(\.reason) == [.keyDoesNotMatchType, .keyDoesNotMatchType, .badBase64, .missingFields, .badKeyType])
        #expect(file.skipped.map(\.line) == [1, 2, 4, 5, 6], "\(file.skipped)")
        #expect(file.entries.map(\.line) == [3, 7], "padding is optional, as for OpenSSH")
        #expect(file.entries[0].keyBlob == Self.blob(Self.rsa))
    }

    @Test func appendingKeepsTheFileLineEnds() {
        let line = "\(Self.host) ssh-ed25519 \(Self.keyA)"
        #expect(KnownHostsFile.appendix(for: line, after: []) == Array("\(line)\n".utf8))
        #expect(KnownHostsFile.appendix(for: line, after: Array("a b c\n".utf8)) == Array("\(line)\n".utf8))
        #expect(KnownHostsFile.appendix(for: line, after: Array("a b c".utf8)) == Array("\n\(line)\n".utf8))
        #expect(KnownHostsFile.appendix(for: line, after: Array("a b c\r\nd e f\r\n".utf8)) == Array("\(line)\r\n".utf8))
        #expect(KnownHostsFile.appendix(for: line, after: Array("a b c\r\nd e f".utf8)) == Array("\r\n\(line)\r\n".utf8))
        // Whatever the file held, the appended line reads back as an entry of its own.
        for existing in ["", "x", "# caf\u{E9}", "a b c\r\nd", "a b c\r\n", "trailing \r"] {
            let before = Array(existing.utf8)
            let after = Self.file(before + KnownHostsFile.appendix(for: line, after: before))
            #expect(Self.status(after, key: Self.keyA) != .unknown, "\(existing.debugDescription)")
            #expect(Self.status(after, key: Self.keyB) != .unknown, "\(existing.debugDescription)")
        }
    }

    @Test func visibleTextEscapesControlBytesAndKeepsLetters() {
        #expect(VisibleText.of("caf\u{E9} ok") == "caf\u{E9} ok")
        #expect(VisibleText.of("a\u{1B}[2Jb\r\n\u{7F}\\") == "a\\033[2Jb\\015\\012\\177\\\\")
        #expect(VisibleText.of(bytes: [0x61, 0xE9, 0x62]) == "a\\351b")
        #expect(VisibleText.of("\u{9B}x") == "\\302\\233x")
        #expect(VisibleText.of(String(repeating: "x", count: 10), limit: 4) == "xxxx…")
    }
}
