/// The few SFTP v3 messages (draft-ietf-secsh-filexfer-02) a striped upload frames itself on a raw channel:
/// INIT → VERSION (with the server's extensions), OPEN → HANDLE/STATUS, WRITE → STATUS, CLOSE → STATUS, and
/// OpenSSH's `fsync@openssh.com` and `posix-rename@openssh.com` EXTENDED requests → STATUS; and what a raw download
/// frames: READ → DATA/STATUS, FSTAT → ATTRS/STATUS. Requests are encoded
/// here; replies are decoded by `SFTPReplyReader`. Every number is big-endian; every packet starts with its uint32
/// length.
enum SFTPWire {
    static let initType: UInt8 = 1
    static let versionType: UInt8 = 2
    static let openType: UInt8 = 3
    static let closeType: UInt8 = 4
    static let readType: UInt8 = 5
    static let writeType: UInt8 = 6
    static let fstatType: UInt8 = 8
    static let statusType: UInt8 = 101
    static let handleType: UInt8 = 102
    static let dataType: UInt8 = 103
    static let attrsType: UInt8 = 105
    static let extendedType: UInt8 = 200

    /// fsync(2) of an open handle (OpenSSH's sftp-server since 6.5).
    static let fsyncExtension = "fsync@openssh.com"
    /// rename(2) with its POSIX semantics: an existing target is replaced atomically (v3's RENAME refuses one).
    static let posixRenameExtension = "posix-rename@openssh.com"
    /// Extension names kept from a VERSION reply; later ones are ignored.
    static let maximumExtensions = 64

    /// SSH_FXF_WRITE: the only open flag a stripe uses (the file exists; the upload's own channel created it).
    static let openWrite: UInt32 = 0x02
    /// SSH_FXF_READ: a raw download's open.
    static let openRead: UInt32 = 0x01
    /// SSH_FX_EOF.
    static let statusEOF: UInt32 = 1
    /// SSH_FX_OK.
    static let statusOK: UInt32 = 0
    /// The longest reply accepted (OpenSSH's own limit for a message); a longer one fails the stripe.
    static let maximumReply = 256 * 1024
    /// The longest handle accepted (the draft: at most 256 bytes).
    static let maximumHandle = 256
    /// Data bytes in one WRITE request (every server must take a 34000-byte packet).
    static let writeChunk = 32768

    static func initRequest() -> [UInt8] {
        var packet = Packet(type: initType)
        packet.uint32(3)
        return packet.finished()
    }

    /// OPEN with `flags` (WRITE, or READ) and no attributes.
    static func openRequest(id: UInt32, path: [UInt8], flags: UInt32 = openWrite) -> [UInt8] {
        var packet = Packet(type: openType)
        packet.uint32(id)
        packet.string(path)
        packet.uint32(flags)
        packet.uint32(0)
        return packet.finished()
    }

    /// READ of `count` bytes at `offset`.
    static func readRequest(id: UInt32, handle: [UInt8], offset: Int64, count: UInt32) -> [UInt8] {
        var packet = Packet(type: readType)
        packet.uint32(id)
        packet.string(handle)
        packet.uint32(UInt32(truncatingIfNeeded: UInt64(bitPattern: offset) >> 32))
        packet.uint32(UInt32(truncatingIfNeeded: UInt64(bitPattern: offset)))
        packet.uint32(count)
        return packet.finished()
    }

    /// Bytes of a READ request (a CLOSE of the same handle is shorter).
    static func readRequestSize(handle: [UInt8]) -> Int { 4 + 1 + 4 + 4 + handle.count + 8 + 4 }

    static func fstatRequest(id: UInt32, handle: [UInt8]) -> [UInt8] {
        var packet = Packet(type: fstatType)
        packet.uint32(id)
        packet.string(handle)
        return packet.finished()
    }

    static func closeRequest(id: UInt32, handle: [UInt8]) -> [UInt8] {
        var packet = Packet(type: closeType)
        packet.uint32(id)
        packet.string(handle)
        return packet.finished()
    }

    /// EXTENDED fsync@openssh.com of `handle`.
    static func fsyncRequest(id: UInt32, handle: [UInt8]) -> [UInt8] {
        var packet = Packet(type: extendedType)
        packet.uint32(id)
        packet.string(Array(fsyncExtension.utf8))
        packet.string(handle)
        return packet.finished()
    }

    /// EXTENDED posix-rename@openssh.com from `source` to `target`.
    static func posixRenameRequest(id: UInt32, from source: [UInt8], to target: [UInt8]) -> [UInt8] {
        var packet = Packet(type: extendedType)
        packet.uint32(id)
        packet.string(Array(posixRenameExtension.utf8))
        packet.string(source)
        packet.string(target)
        return packet.finished()
    }

    /// Bytes of a WRITE request before its data.
    static func writeHeaderSize(handle: [UInt8]) -> Int { 4 + 1 + 4 + 4 + handle.count + 8 + 4 }

    /// Writes a WRITE request's header for `count` data bytes at `offset` into `target` (exactly
    /// `writeHeaderSize(handle:)` bytes); the data follow it.
    static func writeHeader(id: UInt32, handle: [UInt8], offset: Int64, count: Int, into target: UnsafeMutableRawBufferPointer) {
        precondition(target.count >= writeHeaderSize(handle: handle))
        var at = 0
        func put(_ value: UInt64, _ bytes: Int) {
            for index in 0..<bytes { target[at + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(bytes - 1 - index))) }
            at += bytes
        }
        put(UInt64(writeHeaderSize(handle: handle) - 4 + count), 4)
        put(UInt64(writeType), 1)
        put(UInt64(id), 4)
        put(UInt64(handle.count), 4)
        for byte in handle { target[at] = byte; at += 1 }
        put(UInt64(bitPattern: offset), 8)
        put(UInt64(count), 4)
    }

    /// One request being built: the length is filled in by `finished`.
    struct Packet {
        private var bytes: [UInt8] = [0, 0, 0, 0]
        init(type: UInt8) { bytes.append(type) }
        mutating func uint32(_ value: UInt32) {
            bytes.append(contentsOf: [UInt8(value >> 24), UInt8(truncatingIfNeeded: value >> 16),
                                      UInt8(truncatingIfNeeded: value >> 8), UInt8(truncatingIfNeeded: value)])
        }
        mutating func string(_ value: [UInt8]) {
            uint32(UInt32(value.count))
            bytes.append(contentsOf: value)
        }
        func finished() -> [UInt8] {
            var done = bytes
            let length = UInt32(bytes.count - 4)
            done[0] = UInt8(length >> 24)
            done[1] = UInt8(truncatingIfNeeded: length >> 16)
            done[2] = UInt8(truncatingIfNeeded: length >> 8)
            done[3] = UInt8(truncatingIfNeeded: length)
            return done
        }
    }
}

/// One reply of an SFTP server, as far as a stripe needs it.
enum SFTPReply: Equatable {
    /// The protocol version and the names of the extensions the server offers.
    case version(UInt32, extensions: [String])
    case handle(id: UInt32, handle: [UInt8])
    case status(id: UInt32, code: UInt32, message: String)
    /// A READ's bytes.
    case data(id: UInt32, bytes: [UInt8])
    /// An FSTAT's answer: the attributes a download compares (each absent when the server left it out).
    case attributes(id: UInt32, size: UInt64?, modified: UInt32?, permissions: UInt32?)
}

extension SFTPReply {
    /// The request it answers (VERSION answers none).
    var id: UInt32? {
        switch self {
        case .version: return nil
        case .handle(let id, _), .status(let id, _, _), .data(let id, _), .attributes(let id, _, _, _): return id
        }
    }
}

/// A reply the stripe cannot accept: the server is out of step or hostile; the stripe fails.
struct SFTPWireError: Error, Equatable, CustomStringConvertible {
    let description: String
}

/// Decodes replies from the bytes of a raw SFTP channel, in pieces as they arrive. Holds at most one reply
/// (`SFTPWire.maximumReply`) plus what one `feed` brings; every length is checked against the packet it is in.
struct SFTPReplyReader {
    private var buffer: [UInt8] = []
    private var start = 0

    /// Bytes received and not yet decoded.
    var pending: Int { buffer.count - start }

    /// Adds received bytes (then call `next` until it returns nil).
    mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        if start > 0, start == buffer.count || start >= 64 * 1024 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete reply, nil while it is incomplete; throws on a length out of bounds, an unknown type or a
    /// packet whose fields run past its end.
    mutating func next() throws -> SFTPReply? {
        guard pending >= 4 else { return nil }
        let length = Int(uint32(at: start))
        guard length >= 1, length <= SFTPWire.maximumReply else {
            throw SFTPWireError(description: "the SFTP server sent a reply of \(length) bytes (at most \(SFTPWire.maximumReply) accepted)")
        }
        guard pending >= 4 + length else { return nil }
        var fields = Fields(buffer: buffer, at: start + 5, end: start + 4 + length)
        let type = buffer[start + 4]
        start += 4 + length
        switch type {
        case SFTPWire.versionType:
            let version = try fields.uint32()
            // Extension pairs (name, data) fill the rest of the packet.
            var extensions: [String] = []
            while !fields.atEnd {
                let name = try fields.string(maximum: SFTPWire.maximumReply)
                _ = try fields.string(maximum: SFTPWire.maximumReply)
                if extensions.count < SFTPWire.maximumExtensions { extensions.append(String(decoding: name, as: UTF8.self)) }
            }
            return .version(version, extensions: extensions)
        case SFTPWire.handleType:
            let id = try fields.uint32()
            let handle = try fields.string(maximum: SFTPWire.maximumHandle)
            return .handle(id: id, handle: handle)
        case SFTPWire.statusType:
            let id = try fields.uint32()
            let code = try fields.uint32()
            // The message and language tag are optional in v3 (some servers leave them out).
            let message = fields.atEnd ? "" : String(decoding: try fields.string(maximum: SFTPWire.maximumReply), as: UTF8.self)
            return .status(id: id, code: code, message: message)
        case SFTPWire.dataType:
            let id = try fields.uint32()
            return .data(id: id, bytes: try fields.string(maximum: SFTPWire.maximumReply))
        case SFTPWire.attrsType:
            let id = try fields.uint32()
            return try fields.attributes(id: id)
        default:
            throw SFTPWireError(description: "the SFTP server sent a reply of type \(type), which the bridge never asks for")
        }
    }

    private func uint32(at index: Int) -> UInt32 {
        UInt32(buffer[index]) << 24 | UInt32(buffer[index + 1]) << 16 | UInt32(buffer[index + 2]) << 8 | UInt32(buffer[index + 3])
    }

    /// The fields of one packet, read in order and never past its end.
    private struct Fields {
        let buffer: [UInt8]
        var at: Int
        let end: Int
        var atEnd: Bool { at >= end }

        mutating func uint32() throws -> UInt32 {
            guard end - at >= 4 else { throw SFTPWireError(description: "the SFTP server sent a reply shorter than its fields") }
            defer { at += 4 }
            return UInt32(buffer[at]) << 24 | UInt32(buffer[at + 1]) << 16 | UInt32(buffer[at + 2]) << 8 | UInt32(buffer[at + 3])
        }

        mutating func uint64() throws -> UInt64 {
            UInt64(try uint32()) << 32 | UInt64(try uint32())
        }

        /// ATTRS (draft-02 §5): flags, then each field its flag announces, in order.
        mutating func attributes(id: UInt32) throws -> SFTPReply {
            let flags = try uint32()
            let size = flags & 0x1 != 0 ? try uint64() : nil
            if flags & 0x2 != 0 { _ = try uint32(); _ = try uint32() }
            let permissions = flags & 0x4 != 0 ? try uint32() : nil
            var modified: UInt32?
            if flags & 0x8 != 0 { _ = try uint32(); modified = try uint32() }
            if flags & 0x8000_0000 != 0 {
                let count = try uint32()
                for _ in 0..<count { _ = try string(maximum: SFTPWire.maximumReply); _ = try string(maximum: SFTPWire.maximumReply) }
            }
            return .attributes(id: id, size: size, modified: modified, permissions: permissions)
        }

        mutating func string(maximum: Int) throws -> [UInt8] {
            let count = Int(try uint32())
            guard count <= maximum, count <= end - at else {
                throw SFTPWireError(description: "the SFTP server sent a string of \(count) bytes in a reply with \(end - at) left (at most \(maximum) accepted)")
            }
            defer { at += count }
            return Array(buffer[at..<(at + count)])
        }
    }
}
