/// One FTP command line split into its verb (upper-cased, ASCII letters only) and argument (as sent).
public struct FTPCommandLine: Equatable, Sendable {
    public let verb: String
    public let argument: String

    public init(verb: String, argument: String = "") {
        self.verb = verb
        self.argument = argument
    }

    /// Parses a line without its terminator. Returns nil for an empty line or a verb that is not 3-4
    /// ASCII letters (RFC 959 verbs; X-prefixed ones such as XPWD included).
    /// Telnet IAC sequences some clients send before ABOR are stripped.
    public init?(line: [UInt8]) {
        let cleaned = FTPCommandLine.stripTelnet(line)
        let spaceIndex = cleaned.firstIndex(of: UInt8(ascii: " "))
        let verbBytes = cleaned[..<(spaceIndex ?? cleaned.endIndex)]
        guard (3...4).contains(verbBytes.count),
              verbBytes.allSatisfy({ ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) })
        else { return nil }
        verb = String(decoding: verbBytes, as: UTF8.self).uppercased()
        if let spaceIndex {
            argument = String(decoding: cleaned[cleaned.index(after: spaceIndex)...], as: UTF8.self)
        } else {
            argument = ""
        }
    }

    /// The line as sent on the wire, CRLF-terminated.
    public var wireBytes: [UInt8] {
        Array((argument.isEmpty ? verb : "\(verb) \(argument)").utf8) + [13, 10]
    }

    /// True for an HTTP request line (`GET / HTTP/1.1`): a browser or a cross-protocol attack on the control port.
    public static func isHTTPRequestLine(_ line: [UInt8]) -> Bool {
        let words = String(decoding: line, as: UTF8.self).split(separator: " ")
        return words.count == 3 && words[2].hasPrefix("HTTP/")
            && ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH", "TRACE"].contains(words[0])
    }

    /// Removes Telnet IAC IP / IAC DM / IAC SYNCH prefixes (RFC 959 §4.1.3 abort sequence).
    public static func stripTelnet(_ line: [UInt8]) -> ArraySlice<UInt8> {
        let iac: UInt8 = 0xFF
        var index = line.startIndex
        while index < line.endIndex, line[index] == iac || line[index] == 0xF4 || line[index] == 0xF2 {
            index += 1
        }
        return line[index...]
    }
}
