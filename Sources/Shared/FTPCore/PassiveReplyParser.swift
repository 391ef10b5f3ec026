/// Reads the data endpoint out of 227 (PASV) and 229 (EPSV) replies in the textual forms servers use:
/// `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).` with or without parentheses or trailing dot, with text or `=`
/// before the numbers, spaces after commas; `229 Entering Extended Passive Mode (|||port|)` with any delimiter.
/// Like curl, the six numbers are searched anywhere in the reply text.
public enum PassiveReplyParser {
    /// The first run of six comma-separated numbers (0-255, port not 0) in `text`.
    public static func parsePassive<S: StringProtocol>(_ text: S) -> PassiveEndpoint? {
        let bytes = Array(text.utf8)
        for start in bytes.indices where isDigit(bytes[start]) && startsNumberList(bytes, at: start) {
            if let endpoint = sixNumbers(bytes, from: start) { return endpoint }
        }
        return nil
    }

    /// The port of `(|||port|)` (any delimiter in 33...126 other than digits), with or without the parentheses.
    /// The address fields of the long form `(|1|addr|port|)` are accepted and ignored.
    /// A parenthesised form (RFC 2428's) wins over a delimiter run elsewhere in the text.
    public static func parseExtendedPassive<S: StringProtocol>(_ text: S) -> PassiveEndpoint? {
        let bytes = Array(text.utf8)
        let starts = bytes.indices.filter { isDelimiter(bytes[$0]) }
        let parenthesised = starts.filter { $0 > bytes.startIndex && bytes[$0 - 1] == UInt8(ascii: "(") }
        for start in parenthesised + starts {
            if let port = extendedPort(bytes, from: start) { return PassiveEndpoint(host: nil, port: port) }
        }
        return nil
    }

    /// The endpoint a 227 or 229 reply announces (host nil for 229); nil for other codes or unreadable text.
    public static func endpoint(of reply: FTPReply) -> PassiveEndpoint? {
        switch reply.code {
        case ReplyCode.enteringPassive: return parsePassive(reply.text)
        case ReplyCode.enteringExtendedPassive: return parseExtendedPassive(reply.text)
        default: return nil
        }
    }

    // MARK: 227

    private static let numberCount = 6
    private static let maximumDigits = 3

    /// A list starts at a digit not preceded by a digit, a minus sign or a comma (possibly with spaces in between),
    /// so `1,2,3,4,5,6,7` is not read from its second number on.
    private static func startsNumberList(_ bytes: [UInt8], at start: Int) -> Bool {
        var index = start - 1
        if index >= 0, isDigit(bytes[index]) || bytes[index] == UInt8(ascii: "-") { return false }
        while index >= 0, bytes[index] == UInt8(ascii: " ") { index -= 1 }
        return index < 0 || bytes[index] != UInt8(ascii: ",")
    }

    private static func sixNumbers(_ bytes: [UInt8], from start: Int) -> PassiveEndpoint? {
        var numbers: [Int] = []
        var index = start
        while numbers.count < numberCount {
            if !numbers.isEmpty {
                index = skipSpaces(bytes, from: index)
                guard index < bytes.count, bytes[index] == UInt8(ascii: ",") else { return nil }
                index = skipSpaces(bytes, from: index + 1)
            }
            let digitsStart = index
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            let length = index - digitsStart
            guard (1...maximumDigits).contains(length) else { return nil }
            let value = bytes[digitsStart..<index].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            guard value <= 255 else { return nil }
            numbers.append(value)
        }
        // Seven or more numbers is some other format.
        let after = skipSpaces(bytes, from: index)
        if after < bytes.count, bytes[after] == UInt8(ascii: ","),
           skipSpaces(bytes, from: after + 1) < bytes.count, isDigit(bytes[skipSpaces(bytes, from: after + 1)]) {
            return nil
        }
        let port = numbers[4] << 8 | numbers[5]
        guard port > 0 else { return nil }
        return PassiveEndpoint(host: numbers[0..<4].map(String.init).joined(separator: "."), port: port)
    }

    // MARK: 229

    private static func extendedPort(_ bytes: [UInt8], from start: Int) -> Int? {
        let delimiter = bytes[start]
        // Fields: "" | net-prt | net-addr | port | "" — the first three delimiters may enclose text (long form).
        var index = start + 1
        for _ in 0..<2 {
            while index < bytes.count, bytes[index] != delimiter {
                guard bytes[index] != UInt8(ascii: ")"), bytes[index] != UInt8(ascii: " ") else { return nil }
                index += 1
            }
            guard index < bytes.count else { return nil }
            index += 1
        }
        let digitsStart = index
        while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        guard index < bytes.count, bytes[index] == delimiter, (1...5).contains(index - digitsStart) else { return nil }
        let port = bytes[digitsStart..<index].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        return (1...65535).contains(port) ? port : nil
    }

    private static func isDelimiter(_ byte: UInt8) -> Bool {
        (33...126).contains(byte) && !isDigit(byte) && byte != UInt8(ascii: "(") && byte != UInt8(ascii: ")")
            && !(UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            && !(UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            && byte != UInt8(ascii: ".") && byte != UInt8(ascii: ",")
    }

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    private static func skipSpaces(_ bytes: [UInt8], from start: Int) -> Int {
        var index = start
        while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
        return index
    }
}
