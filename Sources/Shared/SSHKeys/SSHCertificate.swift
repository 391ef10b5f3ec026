/// An OpenSSH certificate (PROTOCOL.certkeys) read from its blob: enough to pair it with its private key and to
/// refuse it before it is offered (expired, not yet valid, an RSA certificate, a host certificate).
public struct SSHCertificate: Equatable, Sendable {
    public static let suffix = "-cert-v01@openssh.com"

    /// `ssh-ed25519-cert-v01@openssh.com` …
    public let type: String
    /// The certified key's plain type and blob (`ssh-ed25519` + its key), as the private key's public half.
    public let keyType: String
    public let keyBlob: [UInt8]
    public let serial: UInt64
    /// 1: user certificate, 2: host certificate.
    public let certificateType: UInt32
    public let keyID: String
    public let principals: [String]
    public let validAfter: UInt64
    public let validBefore: UInt64

    public enum Failure: Error, Equatable { case notACertificate, truncated, unknownKeyType(String) }

    public static func isCertificateType(_ type: String) -> Bool { type.hasSuffix(suffix) }

    public init(blob: [UInt8]) throws(Failure) {
        var reader = SSHKeyReader(blob)
        do {
            type = try reader.readText()
            guard Self.isCertificateType(type) else { throw Failure.notACertificate }
            keyType = String(type.dropLast(Self.suffix.count))
            _ = try reader.readString() // nonce
            var writer = SSHKeyWriter()
            writer.appendString(keyType)
            switch keyType {
            case "ssh-ed25519":
                writer.appendString(try reader.readString())
            case "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521":
                writer.appendString(try reader.readString())
                writer.appendString(try reader.readString())
            case "ssh-rsa":
                let e = try reader.readMPInt()
                writer.appendMPInt(e)
                writer.appendMPInt(try reader.readMPInt())
            default:
                throw Failure.unknownKeyType(keyType)
            }
            keyBlob = writer.bytes
            serial = try reader.readUInt64()
            certificateType = try reader.readUInt32()
            keyID = try reader.readText()
            var names = SSHKeyReader(try reader.readString())
            var principals: [String] = []
            while !names.isAtEnd { principals.append(try names.readText()) }
            self.principals = principals
            validAfter = try reader.readUInt64()
            validBefore = try reader.readUInt64()
            for _ in 0..<5 { _ = try reader.readString() } // critical options, extensions, reserved, CA key, signature
            guard reader.isAtEnd else { throw Failure.truncated }
        } catch let failure as Failure {
            throw failure
        } catch {
            throw .truncated
        }
    }

    public enum Validity: Equatable, Sendable { case valid, notYetValid, expired }

    /// Validity at `seconds` since the epoch (OpenSSH: valid when after ≤ now < before).
    public func validity(at seconds: UInt64) -> Validity {
        if seconds < validAfter { return .notYetValid }
        if seconds >= validBefore { return .expired }
        return .valid
    }
}
