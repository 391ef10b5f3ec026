/// One complete FTP reply: its code and its lines as received (without terminators).
public struct FTPReply: Equatable, Sendable {
    public var code: Int
    /// Every line, code prefix included (`227 Entering Passive Mode (...)`).
    public var lines: [String]

    public init(code: Int, lines: [String]) {
        self.code = code
        self.lines = lines
    }

    /// 1xx: the command is still running; a final reply follows.
    public var isPreliminary: Bool { code < 200 }

    /// The lines' text without the `ddd ` / `ddd-` prefixes, joined by a space.
    public var text: String {
        lines.map { line -> Substring in
            let bytes = Array(line.utf8)
            return ReplyParser.codePrefix(of: bytes[...]) != nil ? line.dropFirst(min(4, line.count)) : Substring(line)
        }.joined(separator: " ")
    }
}

/// Recognises FTP replies line by line (RFC 959 §4.2): `ddd text` is a whole reply; `ddd-text` opens a multi-line
/// reply that only a line starting with the same `ddd ` closes, so lines inside it that look like other replies
/// (a `227 …` line inside STAT or HELP output) are text, not replies.
public struct ReplyParser: Sendable {
    public enum LineRole: Equatable, Sendable {
        /// A one-line reply.
        case single(code: Int)
        /// `ddd-`: opens a multi-line reply.
        case first(code: Int)
        /// A line inside a multi-line reply.
        case continuation
        /// Closes the multi-line reply.
        case last(code: Int)
        /// Outside any reply and not starting with a reply code.
        case stray
    }

    private var openCode: Int?
    private var collected: [String] = []

    public init() {}

    /// True while inside a multi-line reply.
    public var isInsideMultilineReply: Bool { openCode != nil }

    /// The code of the multi-line reply being read, if any.
    public var openReplyCode: Int? { openCode }

    /// Classifies one line (without terminator; the first bytes suffice for an overlong line) and advances.
    public mutating func classify<C: Collection>(_ line: C) -> LineRole where C.Element == UInt8 {
        let bytes = Array(line.prefix(4))[...]
        if let open = openCode {
            if let (code, separator) = ReplyParser.codePrefix(of: bytes), code == open, separator != UInt8(ascii: "-") {
                openCode = nil
                return .last(code: code)
            }
            return .continuation
        }
        guard let (code, separator) = ReplyParser.codePrefix(of: bytes) else { return .stray }
        if separator == UInt8(ascii: "-") {
            openCode = code
            return .first(code: code)
        }
        return .single(code: code)
    }

    /// Feeds one line (without terminator); returns the reply it completes. Stray lines are ignored.
    public mutating func feed<C: Collection>(line: C) -> FTPReply? where C.Element == UInt8 {
        let text = String(decoding: line, as: UTF8.self)
        switch classify(line) {
        case .single(let code):
            return FTPReply(code: code, lines: [text])
        case .first:
            collected = [text]
            return nil
        case .continuation:
            collected.append(text)
            return nil
        case .last(let code):
            defer { collected = [] }
            return FTPReply(code: code, lines: collected + [text])
        case .stray:
            return nil
        }
    }

    /// `ddd` then space, `-` or end of line, with the first digit 1-5. Returns the code and the separator (nil at end).
    static func codePrefix(of bytes: ArraySlice<UInt8>) -> (Int, UInt8?)? {
        guard bytes.count >= 3 else { return nil }
        let digits = Array(bytes.prefix(3))
        guard (UInt8(ascii: "1")...UInt8(ascii: "5")).contains(digits[0]),
              digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        let code = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        guard bytes.count > 3 else { return (code, nil) }
        let separator = bytes[bytes.startIndex + 3]
        guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else { return nil }
        return (code, separator)
    }
}
