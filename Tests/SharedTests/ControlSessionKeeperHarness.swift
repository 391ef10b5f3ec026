import Testing
@testable import TunnelCore

/// Drives a `ControlSessionKeeper` as `RewriteControl` does (commands from the filter, server bytes, the session
/// lost and regained) and records what each side received, so a scenario can be replayed with every step's bytes
/// whole, drip-fed byte by byte, and split at every offset, and must come out the same.
struct KeeperHarness {
    enum Step {
        /// A command line the filter sends (CRLF added).
        case command(String)
        /// Server lines (CRLF added to each).
        case server([String])
        /// The SSH session is lost.
        case drop
        /// A new server connection is open.
        case reconnect

        static func replies(_ lines: String...) -> Step { .server(lines) }
    }

    struct Transcript: Equatable, CustomStringConvertible {
        var toServer: [UInt8] = []
        var toFilter: [UInt8] = []
        var failures: [String] = []
        var resumed = 0
        var phase: ControlSessionKeeper.Phase = .live
        var memory = ControlSessionMemory()

        var server: String { String(decoding: toServer, as: UTF8.self) }
        var filter: String { String(decoding: toFilter, as: UTF8.self) }
        /// Lines the filter got, without CRLF.
        var filterLines: [String] { filter.components(separatedBy: "\r\n").filter { !$0.isEmpty } }
        var replay: String { memory.replay.map { String(decoding: $0.wireBytes, as: UTF8.self) }.joined() }

        var description: String {
            "toServer: \(server.debugDescription)\ntoFilter: \(filter.debugDescription)\nfailures: \(failures) phase: \(phase)"
        }
    }

    /// Runs `steps` with every chunking and expects the same transcript each time; returns it.
    @discardableResult
    static func verify(_ steps: [Step], sourceLocation: SourceLocation = #_sourceLocation) -> Transcript {
        let whole = run(steps, FilterHarness.Chunking.whole)
        let longest = steps.map { bytes(of: $0).count }.max() ?? 0
        for chunking in [FilterHarness.Chunking.dripFeed] + (0...longest).map({ .split($0) }) {
            let other = run(steps, chunking)
            #expect(other == whole, "\(chunking):\n\(other)\nwhole:\n\(whole)", sourceLocation: sourceLocation)
        }
        return whole
    }

    static func run(_ steps: [Step], _ chunking: FilterHarness.Chunking) -> Transcript {
        var keeper = FramedKeeper()
        var transcript = Transcript()
        func take(_ output: FramedKeeper.Output) {
            transcript.toServer += output.toServer
            transcript.toFilter += output.toFilter
            if let failure = output.failure { transcript.failures.append(failure) }
            if output.resumed { transcript.resumed += 1 }
        }
        for step in steps {
            switch step {
            case .command:
                for chunk in chunking.chunks(bytes(of: step)) { transcript.toServer += keeper.sentToServer(chunk) }
            case .server:
                for chunk in chunking.chunks(bytes(of: step)) { take(keeper.fromServer(chunk)) }
            case .drop:
                take(keeper.sessionLost())
            case .reconnect:
                keeper.serverReconnected()
            }
        }
        transcript.phase = keeper.phase
        transcript.memory = keeper.memory
        return transcript
    }

    private static func bytes(of step: Step) -> [UInt8] {
        switch step {
        case .command(let line): return Array((line + "\r\n").utf8)
        case .server(let lines): return lines.flatMap { Array(($0 + "\r\n").utf8) }
        case .drop, .reconnect: return []
        }
    }
}

/// A `ControlSessionKeeper` with the connection's `ControlConversation` in front of it, as `RewriteControl` drives
/// them: bytes in (framed by the conversation), bytes out. Commands are framed as the filter hands them over.
struct FramedKeeper {
    struct Output {
        var toFilter: [UInt8] = []
        var toServer: [UInt8] = []
        var failure: String?
        var resumed = false

        init(_ output: ControlSessionKeeper.Output) {
            toFilter = output.toFilter.flatMap(\.raw)
            toServer = output.toServer
            failure = output.failure
            resumed = output.resumed
        }
    }

    private(set) var keeper = ControlSessionKeeper()
    private var conversation = ControlConversation()

    var phase: ControlSessionKeeper.Phase { keeper.phase }
    var memory: ControlSessionMemory { keeper.memory }
    var isLive: Bool { keeper.isLive }
    /// As `RewriteControl.isQuiet` asks it: the keeper, and no unfinished line in the conversation either way.
    var isQuiet: Bool { keeper.isQuiet && conversation.isBetweenReplies && conversation.isBetweenCommands }

    mutating func sentToServer(_ bytes: [UInt8]) -> [UInt8] {
        keeper.sentToServer(conversation.commands(bytes)).flatMap(\.raw)
    }

    mutating func fromServer(_ bytes: [UInt8]) -> Output { Output(keeper.fromServer(conversation.replies(bytes))) }

    mutating func sessionLost() -> Output { Output(keeper.sessionLost(replies: &conversation)) }

    mutating func serverReconnected() { keeper.serverReconnected() }
}
