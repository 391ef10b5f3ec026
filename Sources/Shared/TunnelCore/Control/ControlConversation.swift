import FTPCore

/// Frames one FTP control connection once, for every consumer of it in rewrite mode (the filter, the session
/// keeper, the transfer tracker, the completion gate): commands from the client into lines, replies from the server
/// into lines that know their place in a reply (RFC 959 §4.2: `ddd-` opens a multi-line reply that only `ddd `
/// closes; lines inside it that look like replies are text). Pure: no I/O; any split of the input gives the same
/// units with the same bytes, in order.
///
/// Bounded: per direction at most one unfinished line of `maximumLineLength` bytes is held; a longer line comes
/// out as an `overlongStart` piece and `overlongRest` pieces, so nothing is dropped and nothing grows. A reply's
/// lines are classified as they pass (only the open reply's code is kept), never collected here: a consumer that
/// collects lines (the filter's passive replies, the gate's multi-line replies) bounds its own collection.
/// Terminators are CRLF or bare LF and stay in the bytes; Telnet IAC sequences stay in the bytes too (`command`
/// strips the RFC 959 abort prefix when it reads the verb).
public struct ControlConversation: Sendable {
    /// One framed piece of either stream: a whole line, a piece of an over-long line, or a stream's unterminated end.
    public struct Unit: Equatable, Sendable {
        public enum Piece: Equatable, Sendable {
            /// A whole line, terminator included.
            case line
            /// The first `maximumLineLength` bytes of a line too long to hold.
            case overlongStart
            /// More bytes of that line; `ended` when they include its LF.
            case overlongRest(ended: Bool)
            /// The unfinished last line of a stream that ended (no terminator).
            case unterminated
        }

        /// The bytes exactly as they crossed the wire.
        public let raw: [UInt8]
        public let piece: Piece
        /// Replies only: the line's place in its reply, classified once. Nil for commands and for the rest of an
        /// over-long reply line (its start carried the role).
        public let role: ReplyParser.LineRole?

        public init(raw: [UInt8], piece: Piece, role: ReplyParser.LineRole? = nil) {
            self.raw = raw
            self.piece = piece
            self.role = role
        }

        /// A whole command line made by a consumer itself (`PASV\r\n`).
        public static func command(_ raw: [UInt8]) -> Unit { Unit(raw: raw, piece: .line) }

        /// A one-line reply made by a consumer itself; `text` without terminator (CRLF is added).
        public static func reply(_ text: [UInt8]) -> Unit {
            var parser = ReplyParser()
            return Unit(raw: text + [13, 10], piece: .line, role: parser.classify(text))
        }

        /// The line without its terminator (a whole line); the bytes themselves for any other piece.
        public var content: ArraySlice<UInt8> { piece == .line ? RawLineSplitter.content(of: raw) : raw[...] }

        /// A whole command line's verb and argument (Telnet abort prefix stripped); nil for other pieces and for
        /// lines without a 3-4 letter verb.
        public var command: FTPCommandLine? { piece == .line ? FTPCommandLine(line: Array(content)) : nil }

        /// The reply code when this line ends a reply with a final (≥ 200) code.
        public var finalReplyCode: Int? {
            switch role {
            case .single(let code)?, .last(let code)?: return code >= 200 ? code : nil
            default: return nil
            }
        }
    }

    public let maximumLineLength: Int
    private var commandSplitter: RawLineSplitter
    private var replySplitter: RawLineSplitter
    private var replyParser = ReplyParser()

    public init(maximumLineLength: Int = RawLineSplitter.defaultMaximumLineLength) {
        self.maximumLineLength = maximumLineLength
        commandSplitter = RawLineSplitter(maximumLineLength: maximumLineLength)
        replySplitter = RawLineSplitter(maximumLineLength: maximumLineLength)
    }

    /// The code of the multi-line reply being read, if any.
    public var openReplyCode: Int? { replyParser.openReplyCode }

    /// No unfinished command line held.
    public var isBetweenCommands: Bool { commandSplitter.pendingBytes.isEmpty }

    /// No unfinished reply line and no multi-line reply open: the server's side is between replies.
    public var isBetweenReplies: Bool { replySplitter.pendingBytes.isEmpty && replyParser.openReplyCode == nil }

    /// Bytes read from the client.
    public mutating func commands<C: Collection>(_ bytes: C) -> [Unit] where C.Element == UInt8 {
        commandSplitter.feed(bytes).map { event in
            switch event {
            case .line(let raw): return Unit(raw: raw, piece: .line)
            case .overlongStart(let raw): return Unit(raw: raw, piece: .overlongStart)
            case .overlongRest(let raw, let ended): return Unit(raw: raw, piece: .overlongRest(ended: ended))
            }
        }
    }

    /// Bytes read from the server.
    public mutating func replies<C: Collection>(_ bytes: C) -> [Unit] where C.Element == UInt8 {
        replySplitter.feed(bytes).map { event in
            switch event {
            case .line(let raw):
                return Unit(raw: raw, piece: .line, role: replyParser.classify(RawLineSplitter.content(of: raw)))
            case .overlongStart(let raw):
                return Unit(raw: raw, piece: .overlongStart, role: replyParser.classify(raw))
            case .overlongRest(let raw, let ended):
                return Unit(raw: raw, piece: .overlongRest(ended: ended))
            }
        }
    }

    /// The client's stream ended: its unfinished last line, if any.
    public mutating func commandsEnded() -> Unit? {
        let rest = commandSplitter.takePending()
        return rest.isEmpty ? nil : Unit(raw: rest, piece: .unterminated)
    }

    /// The server's stream ended: its unfinished last line, if any.
    public mutating func repliesEnded() -> Unit? {
        let rest = replySplitter.takePending()
        return rest.isEmpty ? nil : Unit(raw: rest, piece: .unterminated)
    }

    /// The server connection broke and another may follow: a line cut short is completed (CRLF added) and an open
    /// multi-line reply is closed with its code and `closing` text, so no consumer is left inside a line or a
    /// reply; the reply side then starts afresh. Returns those completing lines (often none).
    public mutating func cutReplies(closing: String) -> [Unit] {
        var units: [Unit] = []
        let rest = replySplitter.takePending()
        if !rest.isEmpty {
            units.append(Unit(raw: rest + [13, 10], piece: .line, role: replyParser.classify(rest)))
        }
        if let code = replyParser.openReplyCode {
            let ending = Array("\(code) \(closing)".utf8)
            units.append(Unit(raw: ending + [13, 10], piece: .line, role: replyParser.classify(ending)))
        }
        replySplitter = RawLineSplitter(maximumLineLength: maximumLineLength)
        replyParser = ReplyParser()
        return units
    }
}
