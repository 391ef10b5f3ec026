import FTPCore

/// Fixed mode's one intervention on the control stream: only the commands `TunnelVerbPolicy` allows reach the
/// server. Active mode (PORT, EPRT, LPRT) is answered 502 locally (the server would connect to its own side of the
/// tunnel, or worse, to a real host outside SSH), and so are passive variants whose listener is not forwarded
/// (LPSV, SPSV, P@SW), verbs the tunnel does not know, and lines with no verb; blank lines are dropped, as in rewrite
/// mode. Allowed lines pass byte for byte; an over-long line passes only when its verb is allowed. After the
/// client's `AUTH` command the guard steps aside completely, since TLS may follow (FTPS end to end is why fixed mode
/// exists).
///
/// A local reply keeps its place in the reply order: it goes out once the server has answered every command sent
/// before the refused one; client lines after it wait meanwhile (bounded: past `maximumHeldBytes` the loop stops
/// reading the client). Pure: no I/O.
public struct FixedModeGuard: Sendable {
    /// Bytes for each side produced by one input.
    public struct Output: Equatable, Sendable {
        public var toServer: [UInt8] = []
        public var toClient: [UInt8] = []
    }

    public let maximumHeldBytes: Int
    private var clientSplitter = RawLineSplitter()
    private var serverSplitter = RawLineSplitter()
    private var replyParser = ReplyParser()
    /// Final replies the server still owes (the greeting counts as one).
    private var outstanding = 1
    /// The local reply waiting for `outstanding` to reach 0, and the client lines behind it.
    private var pendingReply: [UInt8]?
    private var heldLines: [RawLineSplitter.Event] = []
    private var heldByteCount = 0
    /// Whether the rest of the over-long line being read goes to the server (its verb was allowed) or is dropped.
    private var forwardsOverlongRest = false
    /// Set after AUTH: bytes pass untouched from then on.
    public private(set) var isTransparent = false

    public init(maximumHeldBytes: Int = 64 * 1024) {
        self.maximumHeldBytes = maximumHeldBytes
    }

    public var wantsClientBytes: Bool { heldByteCount < maximumHeldBytes }
    public var holdsOutput: Bool { pendingReply != nil }

    public mutating func clientBytes<C: Collection>(_ bytes: C) -> Output where C.Element == UInt8 {
        var output = Output()
        guard !isTransparent else {
            output.toServer = Array(bytes)
            return output
        }
        for event in clientSplitter.feed(bytes) {
            handleClient(event, &output)
            if isTransparent {
                output.toServer += clientSplitter.takePending()
                output.toClient += serverSplitter.takePending()
            }
        }
        return output
    }

    public mutating func serverBytes<C: Collection>(_ bytes: C) -> Output where C.Element == UInt8 {
        var output = Output()
        guard !isTransparent else {
            output.toClient = Array(bytes)
            return output
        }
        for event in serverSplitter.feed(bytes) {
            switch event {
            case .line(let raw):
                output.toClient += raw
                countReply(RawLineSplitter.content(of: raw), &output)
            case .overlongStart(let raw):
                output.toClient += raw
                countReply(raw[...], &output)
            case .overlongRest(let raw, _):
                output.toClient += raw
            }
            if isTransparent { output.toClient += serverSplitter.takePending() }
        }
        return output
    }

    /// End of the client's stream: its unfinished last line goes to the server as it is, if its verb is allowed.
    public mutating func clientEnded() -> Output {
        var output = Output()
        let partial = clientSplitter.takePending()
        if pendingReply == nil, TunnelVerbPolicy.decide(partial[...]) == .forward { output.toServer = partial }
        return output
    }

    private mutating func handleClient(_ event: RawLineSplitter.Event, _ output: inout Output) {
        if pendingReply != nil {
            heldLines.append(event)
            heldByteCount += Self.size(of: event)
            return
        }
        switch event {
        case .line(let raw):
            let content = RawLineSplitter.content(of: raw)
            if content.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) { return }
            switch TunnelVerbPolicy.decide(content) {
            case .forward:
                output.toServer += raw
                if TunnelVerbPolicy.verb(of: content) == "AUTH" { isTransparent = true } else { outstanding += 1 }
            case .active(let verb):
                answerLocally(FilterReply.activeRefusedInFixedMode(verb), &output)
            case let refused:
                answerLocally(TunnelVerbPolicy.refusal(for: refused) ?? FilterReply.lineTooLong, &output)
            }
        case .overlongStart(let raw):
            forwardsOverlongRest = TunnelVerbPolicy.decide(raw[...]) == .forward
            if forwardsOverlongRest {
                output.toServer += raw
                outstanding += 1
            } else {
                answerLocally(FilterReply.lineTooLong, &output)
            }
        case .overlongRest(let raw, _):
            if forwardsOverlongRest { output.toServer += raw }
        }
    }

    /// Queues `text` for the client behind the replies the server still owes.
    private mutating func answerLocally(_ text: String, _ output: inout Output) {
        let reply = Array(text.utf8) + [13, 10]
        if outstanding == 0 { output.toClient += reply } else { pendingReply = reply }
    }

    private mutating func countReply(_ content: ArraySlice<UInt8>, _ output: inout Output) {
        switch replyParser.classify(content) {
        case .single(let code), .last(let code):
            guard code >= 200 else { return }
            outstanding = max(0, outstanding - 1)
        case .first, .continuation, .stray:
            return
        }
        guard outstanding == 0, let reply = pendingReply else { return }
        output.toClient += reply
        pendingReply = nil
        let held = heldLines
        heldLines = []
        heldByteCount = 0
        for event in held { handleClient(event, &output) }
    }

    private static func size(of event: RawLineSplitter.Event) -> Int {
        switch event {
        case .line(let bytes), .overlongStart(let bytes), .overlongRest(let bytes, _): return bytes.count
        }
    }
}
