import FuzzSupport
import FTPCore

/// ReplyParser and the passive-endpoint parsers and formatters.
enum ReplyChecks {
    static func replyParser(_ lines: [[UInt8]]) {
        var parser = ReplyParser()
        for line in lines {
            guard let reply = parser.feed(line: RawLineSplitter.content(of: line)) else { continue }
            fuzzCheck((100...599).contains(reply.code), "reply code \(reply.code)")
            fuzzCheck(!reply.lines.isEmpty, "a reply without lines")
            _ = reply.text
            _ = PassiveReplyParser.endpoint(of: reply)
        }
    }

    /// Whatever a parser accepts, the formatter writes back in a form the parser reads as the same endpoint.
    static func passiveEndpoints(_ line: [UInt8]) {
        let text = String(decoding: RawLineSplitter.content(of: line), as: UTF8.self)
        if let endpoint = PassiveReplyParser.parsePassive(text) {
            fuzzCheck((1...65535).contains(endpoint.port), "227 port \(endpoint.port) from \(text.debugDescription)")
            guard let formatted = endpoint.passiveReply() else {
                return fuzzCheck(false, "227 host \(endpoint.host ?? "nil") from \(text.debugDescription) cannot be formatted")
            }
            fuzzCheck(PassiveReplyParser.parsePassive(formatted) == endpoint, "227 round trip: \(formatted) vs \(endpoint)")
            let argument = endpoint.portArgument() ?? ""
            fuzzCheck(PassiveEndpoint.parseSixNumbers(Substring(argument)) == endpoint, "PORT round trip: \(argument) vs \(endpoint)")
        }
        if let endpoint = PassiveReplyParser.parseExtendedPassive(text) {
            fuzzCheck(endpoint.host == nil && (1...65535).contains(endpoint.port), "229 endpoint \(endpoint)")
            let formatted = endpoint.extendedPassiveReply()
            fuzzCheck(PassiveReplyParser.parseExtendedPassive(formatted) == endpoint, "229 round trip: \(formatted) vs \(endpoint)")
            fuzzCheck(PassiveEndpoint.parseExtendedPassive(Substring(formatted)) == endpoint,
                      "229 round trip through PassiveEndpoint: \(formatted) vs \(endpoint)")
        }
        // The two 229 parsers agree where both apply (the lenient one takes punctuation delimiters only).
        if let endpoint = PassiveEndpoint.parseExtendedPassive(Substring(text)), usesPunctuationDelimiter(text) {
            fuzzCheck(PassiveReplyParser.parseExtendedPassive(text) == endpoint,
                      "the two 229 parsers disagree on \(text.debugDescription)")
        }
        if let endpoint = PassiveEndpoint.parseSixNumbers(Substring(text)) {
            fuzzCheck(PassiveEndpoint.parseSixNumbers(Substring(endpoint.portArgument() ?? "")) == endpoint,
                      "PORT round trip of \(text.debugDescription)")
        }
        if let (family, endpoint) = PassiveEndpoint.parseExtendedPort(Substring(text)) {
            fuzzCheck((family == 1 || family == 2) && (1...65535).contains(endpoint.port), "EPRT \(family) \(endpoint)")
            let formatted = "|\(family)|\(endpoint.host ?? "")|\(endpoint.port)|"
            fuzzCheck(PassiveEndpoint.parseExtendedPort(Substring(formatted))?.endpoint == endpoint,
                      "EPRT round trip: \(formatted) vs \(endpoint)")
        }
    }

    /// The character after the first `(`: the delimiter of a parenthesised 229 form.
    private static func usesPunctuationDelimiter(_ text: String) -> Bool {
        guard let open = text.firstIndex(of: "("), let delimiter = text[text.index(after: open)...].first else { return false }
        return delimiter.isASCII && (delimiter.isPunctuation || delimiter.isSymbol) && !"().,".contains(delimiter)
    }
}
