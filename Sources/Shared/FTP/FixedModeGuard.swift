/// Fixed mode's one intervention on the control stream: PORT/EPRT are answered 502 locally (the server would
/// connect to its own side of the tunnel, or worse, to a real host outside SSH). Everything else passes byte for
/// byte; after the client's `AUTH` command the guard steps aside completely, since TLS may follow (FTPS end to end
/// is why fixed mode exists).
///
/// The local 502 keeps its place in the reply order: it goes out once the server has answered every command sent
/// before the PORT/EPRT; client lines after it wait meanwhile (bounded: past `maximumHeldBytes` the loop stops
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

    /// End of the client's stream: its unfinished last line goes to the server as it is.
    public mutating func clientEnded() -> Output {
        var output = Output()
        if pendingReply == nil { output.toServer = clientSplitter.takePending() }
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
            let verb = FTPCommandLine(line: Array(RawLineSplitter.content(of: raw)))?.verb
            switch verb {
            case "PORT"?, "EPRT"?:
                let reply = Array(FilterReply.activeRefusedInFixedMode(verb ?? "PORT").utf8) + [13, 10]
                if outstanding == 0 { output.toClient += reply } else { pendingReply = reply }
            case "AUTH"?:
                output.toServer += raw
                isTransparent = true
            default:
                output.toServer += raw
                outstanding += 1
            }
        case .overlongStart(let raw):
            output.toServer += raw
            outstanding += 1
        case .overlongRest(let raw, _):
            output.toServer += raw
        }
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
