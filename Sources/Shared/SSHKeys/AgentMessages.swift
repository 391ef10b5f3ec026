/// The ssh-agent protocol messages a client needs (draft-miller-ssh-agent): list identities, sign with the
/// SHA-2 flags for RSA. Pure encoding and decoding with bounds; the socket is the caller's.
public enum AgentMessages {
    public static let failure: UInt8 = 5
    public static let requestIdentities: UInt8 = 11
    public static let identitiesAnswer: UInt8 = 12
    public static let signRequest: UInt8 = 13
    public static let signResponse: UInt8 = 14
    public static let rsaSHA2_256: UInt32 = 2
    public static let rsaSHA2_512: UInt32 = 4
    /// OpenSSH's own client refuses agent replies longer than this (MAX_AGENT_REPLY_LEN).
    public static let maximumReply = 256 * 1024
    /// More identities than any real agent holds; a reply claiming more is refused.
    public static let maximumIdentities = 1024

    public struct Identity: Equatable, Sendable {
        public let blob: [UInt8]
        public let comment: String
        public var type: String { SSHKeyReader.firstText(blob) ?? "unknown" }
    }

    public enum Failure: Error, Equatable {
        case refused
        case malformed(String)
    }

    /// A whole request: uint32 length, then the message.
    public static func frame(_ message: [UInt8]) -> [UInt8] {
        var writer = SSHKeyWriter()
        writer.appendUInt32(UInt32(message.count))
        return writer.bytes + message
    }

    public static func identitiesRequest() -> [UInt8] { frame([requestIdentities]) }

    public static func signRequest(keyBlob: [UInt8], data: [UInt8], flags: UInt32) -> [UInt8] {
        var writer = SSHKeyWriter()
        writer.appendString(keyBlob)
        writer.appendString(data)
        writer.appendUInt32(flags)
        return frame([signRequest] + writer.bytes)
    }

    /// The length a reply announces in its first four bytes; refused above `maximumReply` or at 0.
    public static func replyLength(_ header: [UInt8]) throws(Failure) -> Int {
        var reader = SSHKeyReader(header)
        guard let length = try? reader.readUInt32() else { throw .malformed("a reply shorter than its length field") }
        guard length >= 1, Int(length) <= maximumReply else { throw .malformed("a reply of \(length) bytes") }
        return Int(length)
    }

    public static func parseIdentities(_ reply: [UInt8]) throws(Failure) -> [Identity] {
        guard let kind = reply.first else { throw .malformed("an empty reply") }
        if kind == failure { throw .refused }
        guard kind == identitiesAnswer else { throw .malformed("reply type \(kind) to a request for identities") }
        var reader = SSHKeyReader(reply, offset: 1)
        do {
            let count = try reader.readUInt32()
            guard count <= maximumIdentities else { throw Failure.malformed("\(count) identities") }
            var identities: [Identity] = []
            for _ in 0..<count {
                let blob = try reader.readString()
                identities.append(Identity(blob: blob, comment: try reader.readText()))
            }
            return identities
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .malformed("an identity list cut short")
        }
    }

    /// The signature's algorithm name and raw bytes from a sign response (`string (string alg, string sig)`).
    public static func parseSignature(_ reply: [UInt8]) throws(Failure) -> (algorithm: String, signature: [UInt8]) {
        guard let kind = reply.first else { throw .malformed("an empty reply") }
        if kind == failure { throw .refused }
        guard kind == signResponse else { throw .malformed("reply type \(kind) to a sign request") }
        var outer = SSHKeyReader(reply, offset: 1)
        guard let blob = try? outer.readString() else { throw .malformed("a signature cut short") }
        var inner = SSHKeyReader(blob)
        guard let algorithm = try? inner.readText(), let signature = try? inner.readString() else {
            throw .malformed("a signature blob cut short")
        }
        return (algorithm, signature)
    }
}
