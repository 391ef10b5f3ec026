import Foundation
import Posix
import FTPCore

/// A value that does not fit its keyword: what is wrong and what to do. The caller adds where and which keyword.
struct ValueProblem: Error {
    let problem: String
    let hint: String
}

/// Parsers for keyword values. Pure; each throws `ValueProblem`.
enum ValueParser {
    static let portRange = 1...65535
    /// LocalPort 0 asks for any free port; the ready line says which.
    static let localPortRange = 0...65535
    static let dataWindowRange = (64 << 10)...(1 << 30)
    static let sessionsRange = 1...16
    static let reconnectAttemptsRange = 0...1_000_000
    static let sftpStreamsRange = 1...64
    static let aliveIntervalRange = 0...86_400
    static let aliveCountRange = 0...1000
    static let connectTimeoutRange = 1...3600

    static func port(_ text: String, range: ClosedRange<Int> = portRange) throws -> Int {
        guard let value = integer(text), range.contains(value) else {
            throw ValueProblem(problem: "is not a port number", hint: "use a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    static func integer(_ text: String, in range: ClosedRange<Int>, unit: String = "") throws -> Int {
        guard let value = integer(text), range.contains(value) else {
            throw ValueProblem(problem: "is not a whole number from \(range.lowerBound) to \(range.upperBound)\(unit)",
                               hint: "use a number in that range")
        }
        return value
    }

    /// Seconds, written `30`, `30s`, `5m`, `1h` (as ssh_config's time format, one unit).
    static func seconds(_ text: String, in range: ClosedRange<Int>) throws -> Int {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
        var digits = Substring(text)
        var factor = 1
        if let last = digits.last, let unit = units[Character(last.lowercased())] { factor = unit; digits = digits.dropLast() }
        guard let value = integer(String(digits)), case let (total, overflow) = value.multipliedReportingOverflow(by: factor),
              !overflow, range.contains(total) else {
            throw ValueProblem(problem: "is not a duration from \(range.lowerBound) to \(range.upperBound) seconds",
                               hint: "write seconds, or a number with s, m or h (e.g. 30, 5m)")
        }
        return total
    }

    /// A byte count: digits with an optional K, M or G (binary multiples; `KiB`/`MB` spellings accepted).
    static func size(_ text: String, in range: ClosedRange<Int>) throws -> Int {
        let multipliers: [String: Int] = ["": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30]
        let digits = text.prefix { $0.isASCII && $0.isNumber }
        var suffix = text[digits.endIndex...].lowercased()
        if suffix == "b" {
            suffix = ""
        } else if (suffix.count == 3 && suffix.hasSuffix("ib")) || (suffix.count == 2 && suffix.hasSuffix("b")) {
            suffix = String(suffix.prefix(1))
        }
        guard let number = integer(String(digits)), let factor = multipliers[suffix],
              case let (total, overflow) = number.multipliedReportingOverflow(by: factor), !overflow else {
            throw ValueProblem(problem: "is not a size", hint: "write bytes or a number with K, M or G, e.g. 16M")
        }
        guard range.contains(total) else {
            throw ValueProblem(problem: "is outside \(formatSize(range.lowerBound))…\(formatSize(range.upperBound))",
                               hint: "use a size in that range, e.g. 16M")
        }
        return total
    }

    static func yesNo(_ text: String) throws -> Bool {
        switch text.lowercased() {
        case "yes", "true": return true
        case "no", "false": return false
        default: throw ValueProblem(problem: "is neither yes nor no", hint: "write yes or no")
        }
    }

    static func hostKeyPolicy(_ text: String) throws -> TunnelSettings.HostKeyPolicy {
        switch text.lowercased() {
        case "yes", "true": return .yes
        case "accept-new": return .acceptNew
        case "ask": return .ask
        case "no", "off", "false": return .no
        default: throw ValueProblem(problem: "is not a host key policy", hint: "write yes, accept-new, ask or no")
        }
    }

    static func choice<T: RawRepresentable & CaseIterable>(_ text: String, of type: T.Type) throws -> T
    where T.RawValue == String {
        if let value = T.allCases.first(where: { $0.rawValue.lowercased() == text.lowercased() }) { return value }
        let names = T.allCases.map(\.rawValue)
        throw ValueProblem(problem: "is not one of \(names.joined(separator: ", "))",
                           hint: "write \(names.dropLast().joined(separator: ", ")) or \(names.last ?? "")")
    }

    static func portRange(_ text: String) throws -> PortRange {
        guard let range = PortRange(text) else {
            throw ValueProblem(problem: "is not a port range",
                               hint: "write LO-HI with 1 ≤ LO ≤ HI ≤ 65535, e.g. 40000-40009")
        }
        return range
    }

    /// A host name or address; `[v6]` brackets are removed.
    /// A path on the SSH server (SFTPRoot): any bytes but NUL and control characters, at most 4096.
    static func remotePath(_ text: String) throws -> String {
        guard !text.isEmpty, text.utf8.count <= 4096, !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw ValueProblem(problem: "is not a usable remote path",
                               hint: "write a directory on the SSH server, e.g. /srv/www or public_html (relative to the login directory)")
        }
        return text
    }

    static func host(_ text: String) throws -> String {
        var name = Substring(text)
        if name.hasPrefix("["), name.hasSuffix("]") { name = name.dropFirst().dropLast() }
        guard !name.isEmpty, !name.contains(where: { $0.isWhitespace || $0 == "/" || $0 == "@" || $0.asciiValue.map { $0 < 0x20 } ?? false }) else {
            throw ValueProblem(problem: "is not a host name or address", hint: "write a name such as ftp.example.com or an address such as 10.0.0.5")
        }
        return String(name)
    }

    static func userName(_ text: String) throws -> String {
        guard !text.isEmpty, !text.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 } ?? false }) else {
            throw ValueProblem(problem: "is not a user name", hint: "write the login name on the SSH server")
        }
        return text
    }

    /// A comma-separated algorithm list. `+`, `-`, `^` (OpenSSH's edits of its defaults) are refused:
    /// libssh2's defaults differ, so the list must be explicit.
    static func algorithms(_ text: String) throws -> [String] {
        if let first = text.first, "+-^".contains(first) {
            throw ValueProblem(problem: "edits a default list with '\(first)'",
                               hint: "list the algorithms explicitly, most preferred first, e.g. aes256-ctr,aes128-ctr")
        }
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.-_")
        guard names.allSatisfy({ !$0.isEmpty && $0.allSatisfy(allowed.contains) }) else {
            throw ValueProblem(problem: "is not a comma-separated list of algorithm names",
                               hint: "write names separated by commas without spaces, e.g. aes256-ctr,aes128-ctr")
        }
        return names
    }

    /// A numeric IPv4/IPv6 address for listeners; `localhost` is 127.0.0.1 and `*` is 0.0.0.0.
    static func bindAddress(_ text: String) throws -> String {
        switch text.lowercased() {
        case "localhost": return "127.0.0.1"
        case "*": return "0.0.0.0"
        default: break
        }
        var name = Substring(text)
        if name.hasPrefix("["), name.hasSuffix("]") { name = name.dropFirst().dropLast() }
        guard SocketAddress.isNumeric(String(name)) else {
            throw ValueProblem(problem: "is not a numeric IP address",
                               hint: "write 127.0.0.1 (the default), a local interface address, or 0.0.0.0 for every interface")
        }
        return String(name)
    }

    static func formatSize(_ bytes: Int) -> String {
        for (unit, shift) in [("G", 30), ("M", 20), ("K", 10)] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return "\(bytes >> shift)\(unit)"
        }
        return "\(bytes)"
    }

    private static func integer(_ text: String) -> Int? {
        guard !text.isEmpty, text.count <= 12, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(text)
    }
}
