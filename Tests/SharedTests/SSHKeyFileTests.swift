import Foundation
import Testing
import TestSupport
@testable import SSHKeys

private func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

@Suite struct BCryptPBKDFTests {
    /// OpenBSD's regress/lib/libutil/bcrypt_pbkdf vectors.
    @Test(arguments: [
        ("password", "salt", 4, "5bbf0cc293587f1c3635555c27796598d47e579071bf427e9d8fbe842aba34d9"),
        ("password", "\0", 4, "c12b566235eee04c212598970a579a67"),
        ("\0", "salt", 4, "6051be18c2f4f82cbf0efee5471b4bb9"),
        ("password\0", "salt\0", 4, "7410e44cf4fa07bfaac8a928b1727fac001375e7bf7384370f48efd121743050"),
    ])
    func openBSDVectors(_ vector: (String, String, Int, String)) throws {
        let expected = hex(vector.3)
        let key = try BCryptPBKDF.derive(passphrase: Array(vector.0.utf8), salt: Array(vector.1.utf8),
                                         rounds: vector.2, keyLength: expected.count)
        #expect(key == expected)
    }

    @Test func refusesWhatOpenBSDRefuses() {
        #expect(throws: BCryptPBKDF.Failure.invalidParameters) { try BCryptPBKDF.derive(passphrase: [], salt: [1], rounds: 4, keyLength: 32) }
        #expect(throws: BCryptPBKDF.Failure.invalidParameters) { try BCryptPBKDF.derive(passphrase: [1], salt: [], rounds: 4, keyLength: 32) }
        #expect(throws: BCryptPBKDF.Failure.invalidParameters) { try BCryptPBKDF.derive(passphrase: [1], salt: [1], rounds: 0, keyLength: 32) }
        #expect(throws: BCryptPBKDF.Failure.invalidParameters) { try BCryptPBKDF.derive(passphrase: [1], salt: [1], rounds: 1, keyLength: 1025) }
    }
}

/// Keys made by the real ssh-keygen, read back: type, encryption, public half equal to the .pub file, RSA
/// signatures verified by the openssl command.
@Suite struct SSHKeyFileTests {
    struct Kind: CustomStringConvertible, Sendable {
        let type: String
        let bits: String?
        let passphrase: String
        let format: String?
        var description: String { "\(type)\(bits ?? "") \(format ?? "openssh") \(passphrase.isEmpty ? "plain" : "encrypted")" }
    }

    static let kinds: [Kind] = [
        Kind(type: "rsa", bits: "2048", passphrase: "", format: nil),
        Kind(type: "rsa", bits: "3072", passphrase: "correct horse", format: nil),
        Kind(type: "ed25519", bits: nil, passphrase: "", format: nil),
        Kind(type: "ed25519", bits: nil, passphrase: "correct horse", format: nil),
        Kind(type: "ecdsa", bits: "256", passphrase: "", format: nil),
        Kind(type: "ecdsa", bits: "384", passphrase: "correct horse", format: nil),
        Kind(type: "rsa", bits: "2048", passphrase: "", format: "PEM"),
        Kind(type: "rsa", bits: "2048", passphrase: "correct horse", format: "PEM"),
        Kind(type: "rsa", bits: "2048", passphrase: "", format: "PKCS8"),
        Kind(type: "rsa", bits: "2048", passphrase: "correct horse", format: "PKCS8"),
    ]

    private func make(_ kind: Kind, in directory: TempDirectory) throws -> String {
        let path = directory.file("id_\(kind.type)")
        var arguments = ["-q", "-t", kind.type, "-N", kind.passphrase, "-f", path, "-C", "test key"]
        if let bits = kind.bits { arguments += ["-b", bits] }
        if let format = kind.format { arguments += ["-m", format] }
        try runChecked("ssh-keygen", arguments)
        return path
    }

    @Test(arguments: kinds) func readsWhatSSHKeygenWrites(_ kind: Kind) throws {
        let directory = try TempDirectory()
        let path = try make(kind, in: directory)
        let publicLine = try #require(PublicKeyLine.read(path + ".pub"))
        // Without the .pub beside it (the passphrase-less facts must come from the key file itself where possible).
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let file = try PrivateKeyFile(path: path, contents: bytes)
        #expect(file.isEncrypted == !kind.passphrase.isEmpty)
        if kind.format == nil || kind.passphrase.isEmpty || kind.format == "PEM" { #expect(file.keyType == publicLine.type) }
        if kind.format == nil { #expect(file.publicBlob == publicLine.blob) }
        if file.isEncrypted {
            #expect(throws: KeyFileError.passphraseRequired(path: path)) { try file.decode(passphrase: nil) }
            #expect(throws: KeyFileError.wrongPassphrase(path: path)) { try file.decode(passphrase: Array("wrong".utf8)) }
        }
        if kind.format != nil && kind.type != "rsa" { return }
        let key = try file.decode(passphrase: kind.passphrase.isEmpty ? nil : Array(kind.passphrase.utf8))
        #expect(key.publicBlob == publicLine.blob)
        #expect(key.keyType == publicLine.type)
        if kind.format == nil { #expect(key.comment == "test key") }
        guard kind.type == "rsa" else { #expect(key.rsa == nil); return }
        let rsa = try #require(key.rsa)
        #expect(rsa.bits == Int(kind.bits!)!)
        try verifiesWithOpenSSL(rsa, publicKey: path + ".pub", in: directory)
    }

    /// Signs with SHA-512 and SHA-256 and lets `openssl dgst -verify` check both against the .pub key.
    private func verifiesWithOpenSSL(_ rsa: KeyCrypto.RSAKey, publicKey: String, in directory: TempDirectory) throws {
        let pem = try runChecked("ssh-keygen", ["-e", "-m", "PKCS8", "-f", publicKey]).stdout
        let pemPath = try directory.write("pub.pem", pem)
        let data = Array("session id and userauth request".utf8)
        let dataPath = directory.file("data")
        try Data(data).write(to: URL(fileURLWithPath: dataPath))
        for (sha512, digest) in [(true, "-sha512"), (false, "-sha256")] {
            let signature = try #require(rsa.sign(data, sha512: sha512))
            #expect(signature.count == rsa.bits / 8)
            let signaturePath = directory.file("sig\(digest)")
            try Data(signature).write(to: URL(fileURLWithPath: signaturePath))
            let result = try runCommand("openssl", ["dgst", digest, "-verify", pemPath, "-signature", signaturePath, dataPath])
            #expect(result.status == 0 && result.stdout.contains("Verified OK"), "\(result.output)")
            let other = try runCommand("openssl", ["dgst", sha512 ? "-sha256" : "-sha512", "-verify", pemPath, "-signature", signaturePath, dataPath])
            #expect(other.status != 0, "a signature must not verify under the other hash")
        }
    }

    @Test func publicKeyFileWithoutPrivateKeyIsNotAKey() throws {
        let directory = try TempDirectory()
        let path = try make(Kind(type: "ed25519", bits: nil, passphrase: "", format: nil), in: directory)
        #expect(throws: KeyFileError.notAKey(path: path + ".pub")) { try PrivateKeyFile.load(path + ".pub") }
        #expect(throws: KeyFileError.unreadable(path: directory.file("missing"), reason: "no such file")) {
            try PrivateKeyFile.load(directory.file("missing"))
        }
        #expect(throws: KeyFileError.unreadable(path: directory.path, reason: "it is a directory")) {
            try PrivateKeyFile.load(directory.path)
        }
        let big = try directory.write("big", String(repeating: "A", count: BoundedFile.keyFileLimit + 1))
        #expect(throws: KeyFileError.tooLarge(path: big, limit: BoundedFile.keyFileLimit)) { try PrivateKeyFile.load(big) }
    }
}

/// Damaged and hostile openssh-key-v1 files: every error is a `KeyFileError` naming the file, never a crash.
@Suite struct HostileKeyFileTests {
    private static func armor(_ binary: [UInt8]) -> [UInt8] {
        let body = Data(binary).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return Array("-----BEGIN OPENSSH PRIVATE KEY-----\n\(body)\n-----END OPENSSH PRIVATE KEY-----\n".utf8)
    }

    private static func binary(ofKeyAt path: String) throws -> [UInt8] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let body = text.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        return Array(try #require(Data(base64Encoded: body)))
    }

    private static func header(cipher: String, kdf: String, options: [UInt8], count: UInt32 = 1,
                               publicBlob: [UInt8], privateSection: [UInt8]) -> [UInt8] {
        var writer = SSHKeyWriter()
        writer.appendString(cipher)
        writer.appendString(kdf)
        writer.appendString(options)
        writer.appendUInt32(count)
        writer.appendString(publicBlob)
        writer.appendString(privateSection)
        return Array("openssh-key-v1".utf8) + [0] + writer.bytes
    }

    private func expectNamedError(_ contents: [UInt8], path: String, passphrase: [UInt8]? = nil, decode: Bool = true) {
        do {
            let file = try PrivateKeyFile(path: path, contents: contents)
            if decode { _ = try file.decode(passphrase: passphrase) } else { return }
            Issue.record("accepted a damaged key file")
        } catch {
            #expect(error.description.contains(path), "\(error)")
        }
    }

    @Test func everyTruncationOfAPlainKeyIsAClearError() throws {
        let directory = try TempDirectory()
        let path = directory.file("id")
        try runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path])
        let binary = try Self.binary(ofKeyAt: path)
        for length in 0..<binary.count {
            expectNamedError(Self.armor(Array(binary.prefix(length))), path: path)
        }
        // And the armoured text cut anywhere.
        let text = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        for length in stride(from: 0, to: text.count - 40, by: 7) {
            expectNamedError(Array(text.prefix(length)), path: path)
        }
    }

    @Test func everyTruncationOfAnEncryptedKeyHeaderIsAClearError() throws {
        let directory = try TempDirectory()
        let path = directory.file("id")
        try runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "secret", "-f", path])
        let binary = try Self.binary(ofKeyAt: path)
        for length in 0..<(binary.count - 200) {
            expectNamedError(Self.armor(Array(binary.prefix(length))), path: path, decode: false)
        }
    }

    @Test func hostileHeadersAreRefusedBeforeAnyWork() throws {
        let path = "/keys/hostile"
        let blob = SSHKeyWriter().bytes + [0, 0, 0, 11] + Array("ssh-ed25519".utf8) + [0, 0, 0, 32] + [UInt8](repeating: 1, count: 32)
        var options = SSHKeyWriter()
        options.appendString([UInt8](repeating: 7, count: 16))
        options.appendUInt32(UInt32.max)
        let slow = Self.header(cipher: "aes256-ctr", kdf: "bcrypt", options: options.bytes, publicBlob: blob, privateSection: [])
        #expect(throws: KeyFileError.roundsOutOfRange(path: path, rounds: UInt32.max)) {
            try PrivateKeyFile(path: path, contents: Self.armor(slow))
        }
        let twoKeys = Self.header(cipher: "none", kdf: "none", options: [], count: 2, publicBlob: blob, privateSection: [])
        #expect(throws: KeyFileError.malformed(path: path, reason: "it holds 2 keys instead of 1")) {
            try PrivateKeyFile(path: path, contents: Self.armor(twoKeys))
        }
        let chacha = Self.header(cipher: "chacha20-poly1305@openssh.com", kdf: "bcrypt", options: options.bytes,
                                 publicBlob: blob, privateSection: [])
        #expect(throws: KeyFileError.unsupportedCipher(path: path, cipher: "chacha20-poly1305@openssh.com")) {
            try PrivateKeyFile(path: path, contents: Self.armor(chacha))
        }
        let scrypt = Self.header(cipher: "aes256-ctr", kdf: "scrypt", options: [], publicBlob: blob, privateSection: [])
        #expect(throws: KeyFileError.unsupportedKDF(path: path, kdf: "scrypt")) { try PrivateKeyFile(path: path, contents: Self.armor(scrypt)) }
        // A length field claiming 4 GiB.
        var huge = Self.header(cipher: "none", kdf: "none", options: [], publicBlob: blob, privateSection: [])
        huge.replaceSubrange((huge.count - 4)..<huge.count, with: [0xff, 0xff, 0xff, 0xff])
        expectNamedError(Self.armor(huge), path: path)
        // A private section whose check words differ, whose key does not match, or whose padding is wrong.
        var section = SSHKeyWriter()
        section.appendUInt32(1); section.appendUInt32(2)
        expectNamedError(Self.armor(Self.header(cipher: "none", kdf: "none", options: [], publicBlob: blob,
                                                privateSection: section.bytes)), path: path)
        expectNamedError(Array("not a key at all".utf8), path: path)
        expectNamedError([], path: path)
    }
}

@Suite struct SSHCertificateTests {
    private func certificate(validity: String, in directory: TempDirectory) throws -> PublicKeyLine {
        let ca = directory.file("ca")
        let key = directory.file("id")
        if !FileManager.default.fileExists(atPath: ca) {
            try runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", ca])
            try runChecked("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])
        }
        try runChecked("ssh-keygen", ["-q", "-s", ca, "-I", "build@ci", "-n", "alice,bob", "-V", validity, key + ".pub"])
        return try #require(PublicKeyLine.read(key + "-cert.pub"))
    }

    @Test func readsWhatSSHKeygenSigns() throws {
        let directory = try TempDirectory()
        let line = try certificate(validity: "-5m:+1h", in: directory)
        let certificate = try SSHCertificate(blob: line.blob)
        #expect(certificate.type == "ssh-ed25519-cert-v01@openssh.com")
        #expect(certificate.keyType == "ssh-ed25519")
        #expect(certificate.keyBlob == PublicKeyLine.read(directory.file("id.pub"))?.blob)
        #expect(certificate.principals == ["alice", "bob"])
        #expect(certificate.keyID == "build@ci")
        #expect(certificate.certificateType == 1)
        let now = UInt64(Date().timeIntervalSince1970)
        #expect(certificate.validity(at: now) == .valid)
        #expect(certificate.validity(at: now + 7200) == .expired)
        #expect(certificate.validity(at: now - 600) == .notYetValid)
        for length in 0..<line.blob.count {
            #expect(throws: (any Error).self) { try SSHCertificate(blob: Array(line.blob.prefix(length))) }
        }
    }

    @Test func expiredCertificateIsSeenAsExpired() throws {
        let directory = try TempDirectory()
        let line = try certificate(validity: "20200101:20200102", in: directory)
        #expect(try SSHCertificate(blob: line.blob).validity(at: UInt64(Date().timeIntervalSince1970)) == .expired)
    }
}

@Suite struct AgentMessagesTests {
    private func identitiesReply(_ identities: [([UInt8], String)]) -> [UInt8] {
        var writer = SSHKeyWriter()
        writer.appendUInt32(UInt32(identities.count))
        for (blob, comment) in identities { writer.appendString(blob); writer.appendString(comment) }
        return [AgentMessages.identitiesAnswer] + writer.bytes
    }

    @Test func parsesIdentitiesAndRefusesEveryTruncation() throws {
        var key = SSHKeyWriter()
        key.appendString("ssh-ed25519"); key.appendString([UInt8](repeating: 9, count: 32))
        let reply = identitiesReply([(key.bytes, "alice@laptop"), (key.bytes, "")])
        let parsed = try AgentMessages.parseIdentities(reply)
        #expect(parsed.map(\.comment) == ["alice@laptop", ""])
        #expect(parsed.first?.type == "ssh-ed25519")
        for length in 1..<reply.count {
            #expect(throws: AgentMessages.Failure.self) { try AgentMessages.parseIdentities(Array(reply.prefix(length))) }
        }
        #expect(throws: AgentMessages.Failure.refused) { try AgentMessages.parseIdentities([AgentMessages.failure]) }
        var many = SSHKeyWriter()
        many.appendUInt32(UInt32.max)
        #expect(throws: AgentMessages.Failure.malformed("\(UInt32.max) identities")) {
            try AgentMessages.parseIdentities([AgentMessages.identitiesAnswer] + many.bytes)
        }
    }

    @Test func replyLengthIsBounded() throws {
        #expect(try AgentMessages.replyLength([0, 0, 0, 5]) == 5)
        #expect(throws: AgentMessages.Failure.self) { try AgentMessages.replyLength([0, 0, 0, 0]) }
        #expect(throws: AgentMessages.Failure.self) { try AgentMessages.replyLength([0, 4, 0, 1]) }
        #expect(throws: AgentMessages.Failure.self) { try AgentMessages.replyLength([0, 0]) }
    }

    @Test func signRequestCarriesTheSHA2Flag() throws {
        let request = AgentMessages.signRequest(keyBlob: [1, 2], data: [3], flags: AgentMessages.rsaSHA2_512)
        #expect(request == [0, 0, 0, 16, 13, 0, 0, 0, 2, 1, 2, 0, 0, 0, 1, 3, 0, 0, 0, 4])
        var inner = SSHKeyWriter()
        inner.appendString("rsa-sha2-512"); inner.appendString([7, 7])
        var outer = SSHKeyWriter()
        outer.appendString(inner.bytes)
        let parsed = try AgentMessages.parseSignature([AgentMessages.signResponse] + outer.bytes)
        #expect(parsed.algorithm == "rsa-sha2-512" && parsed.signature == [7, 7])
    }
}
