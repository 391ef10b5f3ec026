import Testing
@testable import ftptunnel

/// The SFTP v3 framing of striped uploads' raw channels: requests byte for byte as the draft lays them out, replies
/// decoded whatever way the bytes are split, and a hostile or broken server's replies refused.
@Suite struct SFTPWireTests {
    static func be32(_ value: Int) -> [UInt8] { [24, 16, 8, 0].map { UInt8(truncatingIfNeeded: value >> $0) } }
    static func string(_ bytes: [UInt8]) -> [UInt8] { be32(bytes.count) + bytes }
    static func packet(_ type: UInt8, _ body: [UInt8]) -> [UInt8] { be32(body.count + 1) + [type] + body }

    static func decodeAll(_ chunks: [[UInt8]]) throws -> [SFTPReply] {
        var reader = SFTPReplyReader()
        var replies: [SFTPReply] = []
        for chunk in chunks {
            chunk.withUnsafeBytes { reader.feed($0) }
            while let reply = try reader.next() { replies.append(reply) }
        }
        return replies
    }

    @Test func requestsAreFramedAsTheDraftSays() {
        #expect(SFTPWire.initRequest() == Self.packet(1, Self.be32(3)))
        let path = Array("/up/.x.part".utf8)
        #expect(SFTPWire.openRequest(id: 7, path: path) == Self.packet(3, Self.be32(7) + Self.string(path) + Self.be32(2) + Self.be32(0)))
        #expect(SFTPWire.closeRequest(id: 9, handle: [1, 2, 3]) == Self.packet(4, Self.be32(9) + Self.string([1, 2, 3])))
        let handle: [UInt8] = [0xAA, 0xBB]
        var header = [UInt8](repeating: 0, count: SFTPWire.writeHeaderSize(handle: handle))
        header.withUnsafeMutableBytes { SFTPWire.writeHeader(id: 5, handle: handle, offset: 0x1_0000_0002, count: 30001, into: $0) }
        let expected = Self.be32(1 + 4 + 6 + 8 + 4 + 30001) + [6] + Self.be32(5) + Self.string(handle)
            + Self.be32(1) + Self.be32(2) + Self.be32(30001)
        #expect(header == expected)
        #expect(SFTPWire.fsyncRequest(id: 11, handle: handle)
            == Self.packet(200, Self.be32(11) + Self.string(Array("fsync@openssh.com".utf8)) + Self.string(handle)))
        let target = Array("/up/x".utf8)
        #expect(SFTPWire.posixRenameRequest(id: 12, from: path, to: target)
            == Self.packet(200, Self.be32(12) + Self.string(Array("posix-rename@openssh.com".utf8)) + Self.string(path) + Self.string(target)))
    }

    /// What a raw download frames and reads: READ and FSTAT byte-exact, DATA and ATTRS (every optional field, and
    /// fields running past the packet) decoded or refused.
    @Test func downloadRequestsAndRepliesAreFramedAsTheDraftSays() throws {
        let handle: [UInt8] = [0, 0, 0, 3]
        #expect(SFTPWire.readRequest(id: 4, handle: handle, offset: 0x2_0000_0001, count: 32768)
            == Self.packet(5, Self.be32(4) + Self.string(handle) + Self.be32(2) + Self.be32(1) + Self.be32(32768)))
        #expect(SFTPWire.readRequest(id: 4, handle: handle, offset: 0, count: 1).count == SFTPWire.readRequestSize(handle: handle))
        #expect(SFTPWire.fstatRequest(id: 6, handle: handle) == Self.packet(8, Self.be32(6) + Self.string(handle)))
        #expect(SFTPWire.openRequest(id: 1, path: [0x61], flags: SFTPWire.openRead)
            == Self.packet(3, Self.be32(1) + Self.string([0x61]) + Self.be32(1) + Self.be32(0)))
        let payload = (0..<40_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        #expect(try Self.decodeAll([Self.packet(103, Self.be32(9) + Self.string(payload))]) == [.data(id: 9, bytes: payload)])
        // ATTRS with size, uid/gid, permissions, times and one extended pair; then with none.
        let full = Self.be32(0x8000_000F) + Self.be32(1) + Self.be32(5) + Self.be32(1000) + Self.be32(1000)
            + Self.be32(0o100644) + Self.be32(111) + Self.be32(222) + Self.be32(1) + Self.string([1]) + Self.string([2])
        #expect(try Self.decodeAll([Self.packet(105, Self.be32(3) + full)])
            == [.attributes(id: 3, size: 0x1_0000_0005, modified: 222, permissions: 0o100644)])
        #expect(try Self.decodeAll([Self.packet(105, Self.be32(3) + Self.be32(0))])
            == [.attributes(id: 3, size: nil, modified: nil, permissions: nil)])
        // A size flag without its eight bytes, an extended count with nothing behind it, DATA longer than its packet.
        #expect(throws: SFTPWireError.self) { try Self.decodeAll([Self.packet(105, Self.be32(3) + Self.be32(1) + Self.be32(0))]) }
        #expect(throws: SFTPWireError.self) {
            try Self.decodeAll([Self.packet(105, Self.be32(3) + Self.be32(0x8000_0000) + Self.be32(0xFFFF_FFFF))])
        }
        #expect(throws: SFTPWireError.self) { try Self.decodeAll([Self.packet(103, Self.be32(9) + Self.be32(100) + [1, 2, 3])]) }
    }

    /// OpenSSH's VERSION lists its extensions as (name, data) pairs; the names are kept, at most
    /// `SFTPWire.maximumExtensions` of them, and a pair running past the packet's end is refused.
    @Test func versionKeepsTheExtensionNamesWithinBounds() throws {
        let offered = ["posix-rename@openssh.com", "statvfs@openssh.com", "fsync@openssh.com"]
        let pairs = offered.flatMap { Self.string(Array($0.utf8)) + Self.string(Array("1".utf8)) }
        #expect(try Self.decodeAll([Self.packet(2, Self.be32(3) + pairs)]) == [.version(3, extensions: offered)])
        #expect(try Self.decodeAll([Self.packet(2, Self.be32(3))]) == [.version(3, extensions: [])])
        let many = (0..<1000).flatMap { Self.string(Array("x\($0)@example.com".utf8)) + Self.string([]) }
        let decoded = try Self.decodeAll([Self.packet(2, Self.be32(3) + many)])
        guard case .version(3, let names)? = decoded.first else { Issue.record("no VERSION: \(decoded)"); return }
        #expect(names.count == SFTPWire.maximumExtensions && names.first == "x0@example.com")
        // A name without its data, and a data string longer than what is left.
        #expect(throws: SFTPWireError.self) { try Self.decodeAll([Self.packet(2, Self.be32(3) + Self.string(Array("a".utf8)))]) }
        #expect(throws: SFTPWireError.self) {
            try Self.decodeAll([Self.packet(2, Self.be32(3) + Self.string(Array("a".utf8)) + Self.be32(50) + [1])])
        }
    }

    /// VERSION (with an extension pair), HANDLE, STATUS with and without its optional message, split at every byte.
    @Test func repliesDecodeAtEverySplitPoint() throws {
        let stream = Self.packet(2, Self.be32(3) + Self.string(Array("ext".utf8)) + Self.string(Array("1".utf8)))
            + Self.packet(102, Self.be32(1) + Self.string([9, 8, 7, 6]))
            + Self.packet(101, Self.be32(2) + Self.be32(0) + Self.string(Array("ok".utf8)) + Self.string([]))
            + Self.packet(101, Self.be32(3) + Self.be32(4))
        let expected: [SFTPReply] = [.version(3, extensions: ["ext"]), .handle(id: 1, handle: [9, 8, 7, 6]),
                                     .status(id: 2, code: 0, message: "ok"), .status(id: 3, code: 4, message: "")]
        #expect(try Self.decodeAll([stream]) == expected)
        for split in 0...stream.count {
            #expect(try Self.decodeAll([Array(stream[..<split]), Array(stream[split...])]) == expected, "split at \(split)")
        }
        #expect(try Self.decodeAll(stream.map { [$0] }) == expected)
    }

    /// A reply cut short is not a reply: nothing decodes until its last byte has come.
    @Test func aTruncatedReplyWaitsForItsRest() throws {
        let reply = Self.packet(101, Self.be32(2) + Self.be32(0) + Self.string(Array("ok".utf8)) + Self.string([]))
        for cut in 0..<reply.count { #expect(try Self.decodeAll([Array(reply[..<cut])]).isEmpty, "cut at \(cut)") }
    }

    @Test func hostileLengthsAreRefused() {
        // Longer than any reply a stripe accepts, and a zero length.
        #expect(throws: SFTPWireError.self) { try Self.decodeAll([Self.be32(SFTPWire.maximumReply + 1) + [101]]) }
        #expect(throws: SFTPWireError.self) { try Self.decodeAll([Self.be32(0xFFFF_FFFF)]) }
        #expect(throws: SFTPWireError.self) { try Self.decodeAll([Self.be32(0)]) }
        // A handle longer than the draft allows, and strings running past the end of their packet.
        #expect(throws: SFTPWireError.self) {
            try Self.decodeAll([Self.packet(102, Self.be32(1) + Self.string([UInt8](repeating: 1, count: 257)))])
        }
        #expect(throws: SFTPWireError.self) { try Self.decodeAll([Self.packet(102, Self.be32(1) + Self.be32(100) + [1, 2])]) }
        #expect(throws: SFTPWireError.self) {
            try Self.decodeAll([Self.packet(101, Self.be32(1) + Self.be32(0) + Self.be32(0x7FFF_FFFF))])
        }
        // Packets shorter than their fixed fields, and a type the bridge never asks for (NAME).
        #expect(throws: SFTPWireError.self) { try Self.decodeAll([Self.packet(101, Self.be32(1) + [0, 0])]) }
        #expect(throws: SFTPWireError.self) { try Self.decodeAll([Self.packet(2, [0])]) }
        #expect(throws: SFTPWireError.self) { try Self.decodeAll([Self.packet(104, Self.be32(1) + Self.be32(0))]) }
    }

    /// The reader holds at most one incomplete reply plus what was fed since: decoded bytes are dropped.
    @Test func theReaderDropsWhatItDecoded() throws {
        var reader = SFTPReplyReader()
        let status = Self.packet(101, Self.be32(1) + Self.be32(0))
        for round in 0..<10_000 {
            status.withUnsafeBytes { reader.feed($0) }
            #expect(try reader.next() == .status(id: 1, code: 0, message: ""), "round \(round)")
        }
        #expect(reader.pending == 0)
    }
}
