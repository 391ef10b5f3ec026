import Foundation
import FTPCore
import Posix
import Testing
import TunnelCore
@testable import FTPServerKit

/// The engine's transfers on a `MemoryFileStore`: the control connection is a socket pair, the data connections are
/// the engine's own passive listeners on 127.0.0.1. Contents are compared whole and by SHA-256 at both ends.
@Suite struct EngineTransferTests {
    /// Deterministic bytes that are not a repeating pattern (xorshift64).
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    static func sha256(_ bytes: [UInt8]) -> String { Digest.sha256(bytes).map { String(format: "%02x", $0) }.joined() }

    static func loggedIn(_ store: MemoryFileStore) throws -> EngineConnection {
        let connection = try EngineConnection(store: store)
        try #require(try connection.nextReply()?.code == ReplyCode.serviceReady)
        try connection.send(line: "USER alice")
        try #require(try connection.nextReply()?.code == ReplyCode.needPassword)
        try connection.send(line: "PASS secret")
        try #require(try connection.nextReply()?.code == ReplyCode.loggedIn)
        return connection
    }

    /// EPSV or PASV, then a connection to the port the reply names.
    static func openData(_ connection: EngineConnection, extended: Bool) throws -> Int32 {
        try connection.send(line: extended ? "EPSV" : "PASV")
        let reply = try #require(try connection.nextReply())
        try #require(reply.code == (extended ? ReplyCode.enteringExtendedPassive : ReplyCode.enteringPassive), "\(reply.lines)")
        let endpoint = try #require(PassiveReplyParser.endpoint(of: reply))
        let address = try #require(SocketAddress(host: "127.0.0.1", port: endpoint.port))
        return try PosixSocket.connect(to: address, milliseconds: Int32(EngineConnection.seconds * 1000), nonBlocking: false)
    }

    /// Everything the engine sends on `data` until it closes it.
    static func readAll(_ data: Int32) throws -> [UInt8] {
        let deadline = Date().addingTimeInterval(EngineConnection.seconds)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            guard try PosixPoll.wait(data, events: Int16(POLLIN), milliseconds: left) else { throw EngineError.noReply }
            let result = try buffer.withUnsafeMutableBytes { raw in try PosixSocket.read(data, into: raw) }
            guard case .done(let count) = result else { continue }
            if count == 0 { return received }
            received += buffer[0..<count]
        }
    }

    static func writeAll(_ data: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let result = try bytes[offset...].withUnsafeBytes { buffer in try PosixSocket.send(data, buffer) }
            guard case .done(let sent) = result, sent > 0 else { throw EngineError.sendFailed }
            offset += sent
        }
    }

    /// RETR over a fresh data connection: the bytes received and the two replies.
    static func retrieve(_ connection: EngineConnection, _ path: String, extended: Bool = true) throws -> (bytes: [UInt8], replies: [FTPReply]) {
        let data = try openData(connection, extended: extended)
        defer { close(data) }
        try connection.send(line: "RETR \(path)")
        let bytes = try readAll(data)
        return (bytes, [try #require(try connection.nextReply()), try #require(try connection.nextReply())])
    }

    /// STOR/APPE/STOU of `bytes` over a fresh data connection: the two replies.
    static func upload(_ connection: EngineConnection, _ command: String, _ bytes: [UInt8]) throws -> [FTPReply] {
        let data = try openData(connection, extended: true)
        try connection.send(line: command)
        let started = try #require(try connection.nextReply())
        guard started.code == ReplyCode.fileStatusOK else { close(data); return [started] }
        try writeAll(data, bytes)
        close(data)
        return [started, try #require(try connection.nextReply())]
    }

    static func listing(_ connection: EngineConnection, _ command: String) throws -> (text: String, codes: [Int]) {
        let data = try openData(connection, extended: true)
        defer { close(data) }
        try connection.send(line: command)
        let text = String(decoding: try readAll(data), as: UTF8.self)
        return (text, [try #require(try connection.nextReply()).code, try #require(try connection.nextReply()).code])
    }

    @Test func retrSendsTheWholeFileAndFromARestartOffset() throws {
        let content = Self.bytes(3 * 1024 * 1024 + 17, seed: 1)
        let store = MemoryFileStore(files: ["big.bin": content])
        let connection = try Self.loggedIn(store)

        let whole = try Self.retrieve(connection, "big.bin")
        #expect(whole.replies.map(\.code) == [ReplyCode.fileStatusOK, ReplyCode.closingData])
        #expect(whole.replies[0].text.contains("(\(content.count) bytes)"))
        #expect(Self.sha256(whole.bytes) == Self.sha256(content))
        #expect(whole.bytes == content)

        try connection.send(line: "REST 1000")
        #expect(try connection.nextReply()?.code == ReplyCode.pendingFurtherInformation)
        let tail = try Self.retrieve(connection, "big.bin", extended: false)
        #expect(tail.replies.map(\.code) == [ReplyCode.fileStatusOK, ReplyCode.closingData])
        #expect(Self.sha256(tail.bytes) == Self.sha256(Array(content[1000...])))

        // The offset was used up by that RETR: the next one starts at 0 again.
        #expect(Self.sha256(try Self.retrieve(connection, "big.bin").bytes) == Self.sha256(content))
        #expect(try connection.finish().isEmpty)
    }

    @Test func storAppeRestAndStouStoreWhatWasSent() throws {
        let store = MemoryFileStore(directories: ["in"])
        let connection = try Self.loggedIn(store)
        let first = Self.bytes(2 * 1024 * 1024 + 5, seed: 2)
        let more = Self.bytes(70_001, seed: 3)
        let tail = Self.bytes(4096, seed: 4)

        #expect(try Self.upload(connection, "STOR in/up.bin", first).map(\.code) == [ReplyCode.fileStatusOK, ReplyCode.closingData])
        #expect(Self.sha256(try #require(store.content("in/up.bin"))) == Self.sha256(first))

        #expect(try Self.upload(connection, "APPE in/up.bin", more).map(\.code) == [ReplyCode.fileStatusOK, ReplyCode.closingData])
        #expect(Self.sha256(try #require(store.content("in/up.bin"))) == Self.sha256(first + more))

        try connection.send(line: "REST 500")
        #expect(try connection.nextReply()?.code == ReplyCode.pendingFurtherInformation)
        #expect(try Self.upload(connection, "STOR in/up.bin", tail).map(\.code) == [ReplyCode.fileStatusOK, ReplyCode.closingData])
        #expect(try #require(store.content("in/up.bin")) == Array(first[..<500]) + tail)

        let unique = try Self.upload(connection, "STOU in/up.bin", more)
        #expect(unique.map(\.code) == [ReplyCode.fileStatusOK, ReplyCode.closingData])
        #expect(unique.first?.text == "FILE: up.bin.1")
        #expect(unique.last?.text.contains("unique name up.bin.1") == true)
        #expect(Self.sha256(try #require(store.content("in/up.bin.1"))) == Self.sha256(more))

        // Refused before any data connection is used: the listener is closed unused.
        #expect(try Self.upload(connection, "STOR in", tail).map(\.code) == [ReplyCode.fileUnavailable])
        #expect(try connection.finish().isEmpty)
    }

    @Test func nlstAndListExpandWildcardsAndHideDotFiles() throws {
        let store = MemoryFileStore(texts: ["pub/a.txt": "a", "pub/b.txt": "bb", "pub/c.log": "ccc", "pub/.hidden.txt": "h"])
        let connection = try Self.loggedIn(store)

        let names = try Self.listing(connection, "NLST pub/*.txt")
        #expect(names.text == "pub/a.txt\r\npub/b.txt\r\n")
        #expect(names.codes == [ReplyCode.fileStatusOK, ReplyCode.closingData])
        #expect(try Self.listing(connection, "NLST pub").text == "a.txt\r\nb.txt\r\nc.log\r\n")
        #expect(try Self.listing(connection, "NLST -a pub").text == ".hidden.txt\r\na.txt\r\nb.txt\r\nc.log\r\n")

        let long = try Self.listing(connection, "LIST pub/?.log").text
        #expect(long.hasPrefix("-rw-r--r--") && long.hasSuffix(" c.log\r\n") && long.split(separator: "\r\n").count == 1, "\(long)")

        let machine = try Self.listing(connection, "MLSD pub").text
        #expect(machine.contains("type=file;size=1;modify=20231114221320;perm=rwadf; .hidden.txt\r\n"), "\(machine)")
        #expect(machine.split(separator: "\r\n").count == 4)
        #expect(try connection.finish().isEmpty)
    }
}
