import TunnelCore

/// Drives a `ControlStreamFilter` like the forwarding loop does, completing listeners and active connections
/// immediately (or never, when asked), and records what each side received.
struct FilterHarness {
    enum Step {
        case client(String)
        case server(String)
        case clientRaw([UInt8])
        case serverRaw([UInt8])
    }

    /// How each step's bytes are cut into reads.
    enum Chunking: CustomStringConvertible {
        case whole
        case dripFeed
        /// Every step's bytes in two reads, the first `n` bytes (or all) then the rest.
        case split(Int)

        var description: String {
            switch self {
            case .whole: return "whole"
            case .dripFeed: return "drip"
            case .split(let n): return "split@\(n)"
            }
        }

        func chunks(_ bytes: [UInt8]) -> [[UInt8]] {
            switch self {
            case .whole: return [bytes]
            case .dripFeed: return bytes.map { [$0] }
            case .split(let n):
                let cut = min(n, bytes.count)
                return [Array(bytes[..<cut]), Array(bytes[cut...])]
            }
        }
    }

    /// What came out, with byte streams concatenated per direction (read boundaries are not significant).
    struct Transcript: Equatable, CustomStringConvertible {
        var toServer: [UInt8] = []
        var toClient: [UInt8] = []
        /// Every action other than sends and logs, in order.
        var control: [ControlStreamFilter.Action] = []
        var logs: [String] = []

        var server: String { String(decoding: toServer, as: UTF8.self) }
        var client: String { String(decoding: toClient, as: UTF8.self) }

        var description: String {
            "toServer: \(server.debugDescription)\ntoClient: \(client.debugDescription)\ncontrol: \(control)"
        }

        static func == (lhs: Transcript, rhs: Transcript) -> Bool {
            lhs.toServer == rhs.toServer && lhs.toClient == rhs.toClient && lhs.control == rhs.control
        }
    }

    var filter: ControlStreamFilter
    /// Frames both streams for the filter, as the loop's conversation does.
    var conversation: ControlConversation
    var transcript = Transcript()
    /// Local port handed out for listener N: `basePort + N`.
    var basePort = 50000
    /// When false, listeners and active connections are left pending (the test completes them).
    var autoComplete = true

    init(_ configuration: ControlStreamFilter.Configuration = .init(ftpHost: "10.1.2.3")) {
        filter = ControlStreamFilter(configuration)
        conversation = ControlConversation(maximumLineLength: configuration.maximumLineLength)
    }

    mutating func run(_ steps: [Step], chunking: Chunking = .whole) {
        for step in steps {
            switch step {
            case .client(let text): feedClient(Array(text.utf8), chunking)
            case .clientRaw(let bytes): feedClient(bytes, chunking)
            case .server(let text): feedServer(Array(text.utf8), chunking)
            case .serverRaw(let bytes): feedServer(bytes, chunking)
            }
        }
    }

    mutating func feedClient(_ bytes: [UInt8], _ chunking: Chunking = .whole) {
        for chunk in chunking.chunks(bytes) where !chunk.isEmpty { record(filter.clientUnits(conversation.commands(chunk))) }
    }

    mutating func feedServer(_ bytes: [UInt8], _ chunking: Chunking = .whole) {
        for chunk in chunking.chunks(bytes) where !chunk.isEmpty { record(filter.serverUnits(conversation.replies(chunk))) }
    }

    /// The client's stream ends (its unfinished line goes to the filter with the end).
    mutating func clientEnded() { record(filter.clientEnded(conversation.commandsEnded())) }

    /// The server's stream ends (its unfinished line goes to the filter with the end).
    mutating func serverEnded() { record(filter.serverEnded(conversation.repliesEnded())) }

    mutating func record(_ actions: [ControlStreamFilter.Action]) {
        var completions: [ControlStreamFilter.Action] = []
        for action in actions {
            switch action {
            case .sendToServer(let units): transcript.toServer += units.flatMap(\.raw)
            case .sendToClient(let bytes): transcript.toClient += bytes
            case .log(_, let message): transcript.logs.append(message)
            case .openPassiveListener, .connectActive:
                transcript.control.append(action)
                completions.append(action)
            case .releaseData:
                transcript.control.append(action)
            }
        }
        guard autoComplete else { return }
        for action in completions {
            switch action {
            case .openPassiveListener(let id, _, _): record(filter.listenerOpened(id, localPort: basePort + id.rawValue))
            case .connectActive(let id, _, _): record(filter.activeConnected(id))
            default: break
            }
        }
    }

    /// Runs the same steps whole, drip-fed and split at every offset up to `maximumSplit`; all must agree.
    static func verifySplitIndependence(_ steps: [Step], configuration: ControlStreamFilter.Configuration = .init(ftpHost: "10.1.2.3"),
                                        maximumSplit: Int? = nil) -> (Transcript, [String]) {
        var reference = FilterHarness(configuration)
        reference.run(steps, chunking: .whole)
        var failures: [String] = []
        let longest = steps.map { step -> Int in
            switch step {
            case .client(let t), .server(let t): return t.utf8.count
            case .clientRaw(let b), .serverRaw(let b): return b.count
            }
        }.max() ?? 0
        let chunkings: [Chunking] = [.dripFeed] + (0...(maximumSplit ?? longest)).map { .split($0) }
        for chunking in chunkings {
            var harness = FilterHarness(configuration)
            harness.run(steps, chunking: chunking)
            if harness.transcript != reference.transcript {
                failures.append("\(chunking) differs:\n\(harness.transcript)\nexpected:\n\(reference.transcript)")
            }
        }
        return (reference.transcript, failures)
    }
}

extension ControlStreamFilter.DataID: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int) { self.init(value) }
}
