import Foundation
import FTPCore

/// Follows one FTP control connection as the server sees it (the commands sent to it, its replies in order) and
/// reports each transfer: which command and path, the size when SIZE or the 150 reply's "(N bytes)" told it,
/// when it started (the 1xx reply) and how it ended (the final reply). Pure: no I/O, no clocks.
///
/// Commands and replies pair in order (pipelining works); the first reply is the greeting. Both arrive framed by
/// the connection's `ControlConversation` (reply lines with their place in a reply). Memory is bounded: at most
/// `maximumOutstanding` commands await their replies (beyond that the tracker stops following the connection
/// rather than guess), reply texts at `maximumTextLength`.
public struct TransferTracker: Sendable {
    public struct Transfer: Equatable, Sendable {
        /// RETR, STOR, STOU, APPE, LIST, NLST or MLSD.
        public var verb: String
        /// The argument as the client sent it (may be empty for listings; control characters removed).
        public var path: String
        /// Bytes the transfer should move, when known (SIZE before a RETR, or the 150 reply), minus a REST offset.
        public var expectedBytes: Int?
        /// REST offset the transfer started from (0 without REST).
        public var offset: Int

        public init(verb: String, path: String, expectedBytes: Int? = nil, offset: Int = 0) {
            self.verb = verb
            self.path = path
            self.expectedBytes = expectedBytes
            self.offset = offset
        }

        /// `RETR /f`, `LIST`.
        public var title: String { path.isEmpty ? verb : "\(verb) \(path)" }
        /// Downloads (the server sends): RETR and the listings.
        public var isDownload: Bool { !["STOR", "STOU", "APPE"].contains(verb) }
    }

    public enum Event: Equatable, Sendable {
        /// The server's 1xx reply: the data is flowing.
        case started(Transfer)
        /// The final reply (2xx: done; 4xx/5xx: failed, also without a 1xx before it). `text` is its first line's
        /// text without the code.
        case finished(Transfer, code: Int, text: String)
    }

    public static let transferVerbs: Set<String> = ["RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD"]
    public static let maximumOutstanding = 1024
    public static let maximumTextLength = 200

    private enum Pending: Equatable, Sendable {
        case greeting
        case other
        case size(String)
        case rest(Int)
        case transfer(Transfer, started: Bool)
    }

    private var pending: [Pending] = [.greeting]
    /// First line of the multi-line reply being read.
    private var openReplyFirstLine: String?
    private var lastSize: (path: String, bytes: Int)?
    private var restOffset = 0
    /// Too many commands without replies: following stopped.
    public private(set) var gaveUp = false

    public init() {}

    /// The transfer the server is working on now (its 1xx came, its final reply not yet).
    public var current: Transfer? {
        for item in pending { if case .transfer(let transfer, true) = item { return transfer } }
        return nil
    }

    /// Command lines sent to the server's control channel.
    public mutating func sentToServer(_ units: [ControlConversation.Unit]) {
        guard !gaveUp else { return }
        for unit in units {
            switch unit.piece {
            case .line: command(unit.command)
            case .overlongStart: enqueue(.other)
            case .overlongRest, .unterminated: break
            }
        }
    }

    /// Reply lines from the server's control channel; returns what they tell about transfers.
    public mutating func fromServer(_ units: [ControlConversation.Unit]) -> [Event] {
        guard !gaveUp else { return [] }
        var events: [Event] = []
        for unit in units {
            guard let role = unit.role else { continue }
            switch unit.piece {
            case .line: replyLine(Array(unit.content), role: role, &events)
            case .overlongStart: replyLine(Array(unit.raw.prefix(Self.maximumTextLength)), role: role, &events)
            case .overlongRest, .unterminated: break
            }
        }
        return events
    }

    private mutating func enqueue(_ item: Pending) {
        guard pending.count < Self.maximumOutstanding else {
            gaveUp = true
            pending.removeAll()
            return
        }
        pending.append(item)
    }

    private mutating func command(_ line: FTPCommandLine?) {
        guard let line else { return enqueue(.other) }
        let argument = Self.printable(line.argument)
        switch line.verb {
        case "SIZE": enqueue(.size(argument))
        case "REST": enqueue(.rest(Int(argument.trimmingCharacters(in: .whitespaces)) ?? 0))
        case let verb where Self.transferVerbs.contains(verb):
            // Offset and size are filled in when its replies come: REST's 350 and SIZE's 213 may still be on the way.
            enqueue(.transfer(Transfer(verb: verb, path: argument), started: false))
        default: enqueue(.other)
        }
    }

    private mutating func replyLine(_ content: [UInt8], role: ReplyParser.LineRole, _ events: inout [Event]) {
        let text = String(decoding: content.prefix(Self.maximumTextLength), as: UTF8.self)
        switch role {
        case .single(let code): reply(code: code, firstLine: text, &events)
        case .first: openReplyFirstLine = text
        case .last(let code):
            reply(code: code, firstLine: openReplyFirstLine ?? text, &events)
            openReplyFirstLine = nil
        case .continuation, .stray: break
        }
    }

    private mutating func reply(code: Int, firstLine: String, _ events: inout [Event]) {
        guard var head = pending.first else { return }
        if case .transfer(var transfer, false) = head {
            // The transfer's first reply: every reply before it (REST, SIZE) has come.
            transfer.offset = restOffset
            if transfer.verb == "RETR", let size = lastSize, size.path == transfer.path {
                transfer.expectedBytes = max(0, size.bytes - restOffset)
            }
            restOffset = 0
            head = .transfer(transfer, started: false)
            pending[0] = head
        }
        let text = Self.printable(String(firstLine.dropFirst(min(4, firstLine.count))))
        if code < 200 {
            if case .transfer(var transfer, false) = head {
                if let announced = Self.announcedBytes(in: firstLine) { transfer.expectedBytes = announced }
                pending[0] = .transfer(transfer, started: true)
                events.append(.started(transfer))
            }
            return
        }
        pending.removeFirst()
        switch head {
        case .greeting, .other: break
        case .size(let path):
            if code == 213, let bytes = Int(text.trimmingCharacters(in: .whitespaces)) { lastSize = (path, bytes) }
        case .rest(let offset):
            if code == 350 { restOffset = offset }
        case .transfer(let transfer, _):
            events.append(.finished(transfer, code: code, text: text))
        }
    }

    /// `150 Opening BINARY mode data connection for f (1048576 bytes).` → 1048576.
    static func announcedBytes(in line: String) -> Int? {
        guard let close = line.range(of: " bytes)", options: .backwards),
              let open = line.range(of: "(", options: .backwards, range: line.startIndex..<close.lowerBound) else { return nil }
        return Int(line[open.upperBound..<close.lowerBound])
    }

    /// Control characters (terminal escapes) never reach a log line.
    static func printable(_ text: String) -> String {
        String(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.prefix(maximumTextLength))
    }
}
