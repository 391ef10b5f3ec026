import FTPServerKit
import Foundation

/// The messages pasvd's processes exchange over their descriptor channels: a first line naming the kind, then
/// `key=value` lines. Decoding is strict (every key known and present once, every value checked), so whatever a
/// compromised peer sends is either one well-formed message or refused with a reason; the listener forwards a
/// session only re-encoded from what it decoded.
public enum HandOffMessage: Equatable, Sendable {
    /// A logged-in session (login worker → listener → account worker), the connection attached.
    case session(SessionHandOff)
    /// The account worker took the session: the listener drops its copy of the connection.
    case accepted(session: Int)
    /// A session of the account worker ended (or was refused by it, with a 421 of its own).
    case ended(session: Int)

    /// Longest message (bytes) any process reads or sends.
    public static let maximumBytes = 8192
    /// Longest session root accepted (PATH_MAX less its NUL).
    public static let maximumRootBytes = 4095
    /// Largest session number (the listener counts from 1).
    public static let maximumSessionID = Int(Int32.max)

    private static let kinds = (session: "pasvd-session", accepted: "pasvd-accepted", ended: "pasvd-ended")

    public func encoded() -> [UInt8] {
        var lines: [String]
        switch self {
        case .session(let handOff):
            lines = [Self.kinds.session, "id=\(handOff.sessionID)", "user=\(handOff.user)",
                     "anonymous=\(handOff.isAnonymous ? 1 : 0)", "writable=\(handOff.writable ? 1 : 0)",
                     "uid=\(handOff.worker.uid)", "gid=\(handOff.worker.gid)", "root=\(handOff.worker.root)",
                     "facts=\(handOff.state.selectedFacts.joined(separator: ";"))"]
        case .accepted(let id):
            lines = [Self.kinds.accepted, "id=\(id)"]
        case .ended(let id):
            lines = [Self.kinds.ended, "id=\(id)"]
        }
        return Array(lines.joined(separator: "\n").utf8)
    }

    public static func decode(_ bytes: [UInt8]) throws(HandOffMessageError) -> HandOffMessage {
        guard bytes.count <= maximumBytes else { throw .tooLong(bytes.count) }
        guard !bytes.contains(0), let text = String(validating: bytes, as: UTF8.self) else { throw .notText }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var fields: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let equals = line.firstIndex(of: "=") else { throw .malformedLine }
            let key = String(line[..<equals])
            guard fields.updateValue(String(line[line.index(after: equals)...]), forKey: key) == nil else {
                throw .duplicateKey(key)
            }
        }
        switch lines.first.map(String.init) {
        case kinds.session?:
            try expectKeys(fields, ["id", "user", "anonymous", "writable", "uid", "gid", "root", "facts"])
            let root = fields["root"]!
            guard root.hasPrefix("/"), root.utf8.count <= maximumRootBytes, !root.contains("\r") else { throw .badValue("root") }
            let user = fields["user"]!
            guard user == "anonymous" || FTPUserName.isValid(user) else { throw .badValue("user") }
            let facts = fields["facts"]!.split(separator: ";").map(String.init)
            guard facts.allSatisfy(SessionResumeState.knownFacts.contains), Set(facts).count == facts.count else {
                throw .badValue("facts")
            }
            let handOff = SessionHandOff(
                sessionID: try sessionID(fields), user: user, isAnonymous: try flag(fields, "anonymous"),
                writable: try flag(fields, "writable"),
                worker: WorkerIdentity(uid: try number(fields, "uid"), gid: try number(fields, "gid"), root: root),
                state: SessionResumeState(selectedFacts: facts))
            return .session(handOff)
        case kinds.accepted?:
            try expectKeys(fields, ["id"])
            return .accepted(session: try sessionID(fields))
        case kinds.ended?:
            try expectKeys(fields, ["id"])
            return .ended(session: try sessionID(fields))
        default:
            throw .unknownKind
        }
    }

    private static func expectKeys(_ fields: [String: String], _ keys: Set<String>) throws(HandOffMessageError) {
        guard Set(fields.keys) == keys else { throw .wrongKeys(fields.keys.sorted().joined(separator: ",")) }
    }

    private static func sessionID(_ fields: [String: String]) throws(HandOffMessageError) -> Int {
        let id: UInt32 = try number(fields, "id")
        guard id >= 1, Int(id) <= maximumSessionID else { throw .badValue("id") }
        return Int(id)
    }

    private static func flag(_ fields: [String: String], _ key: String) throws(HandOffMessageError) -> Bool {
        switch fields[key] {
        case "0": return false
        case "1": return true
        default: throw .badValue(key)
        }
    }

    /// A decimal number without sign or leading zeros that fits `T`.
    private static func number<T: FixedWidthInteger>(_ fields: [String: String], _ key: String) throws(HandOffMessageError) -> T {
        guard let text = fields[key], !text.isEmpty, text.count <= 10, text.utf8.allSatisfy({ (48...57).contains($0) }),
              text == "0" || !text.hasPrefix("0"), let value = T(text) else { throw .badValue(key) }
        return value
    }
}

public enum HandOffMessageError: Error, Equatable, CustomStringConvertible {
    case tooLong(Int)
    case notText
    case malformedLine
    case duplicateKey(String)
    case wrongKeys(String)
    case badValue(String)
    case unknownKind

    public var description: String {
        switch self {
        case .tooLong(let count): return "message of \(count) bytes (limit \(HandOffMessage.maximumBytes))"
        case .notText: return "message is not UTF-8 text"
        case .malformedLine: return "a line without key=value"
        case .duplicateKey(let key): return "key \(key) appears twice"
        case .wrongKeys(let keys): return "unexpected set of keys: \(keys)"
        case .badValue(let key): return "bad value for \(key)"
        case .unknownKind: return "unknown message kind"
        }
    }
}
