import FuzzSupport
import Glibc
import TunnelCore

/// Drives one ControlStreamFilter as the loop contract (ControlStreamFilter.swift) describes, answering the
/// completions the filter asks for, and checks the invariants the loop relies on after every call.
struct FilterDriver {
    typealias Action = ControlStreamFilter.Action
    typealias DataID = ControlStreamFilter.DataID

    enum Pending: Equatable {
        case listener(DataID)
        case active(DataID)
        var id: DataID { switch self { case .listener(let id), .active(let id): return id } }
    }

    struct Transcript: Equatable {
        var toServer: [UInt8] = []
        var toClient: [UInt8] = []
        var control: [Action] = []
    }

    private(set) var filter: ControlStreamFilter
    /// Frames both streams for the filter, as the loop's conversation does.
    private var conversation: ControlConversation
    private(set) var transcript = Transcript()
    private let completesListenersAtOnce: Bool
    private var pending: [Pending] = []
    private var issued: Set<Int> = []
    private var highestIssued = 0
    private var clientEnded = false
    private var serverEnded = false
    /// The memory bounds hold only for a driver that reads a side while the filter wants it (as the loop does).
    private var boundsApply = true

    init(_ configuration: ControlStreamFilter.Configuration, completesListenersAtOnce: Bool) {
        filter = ControlStreamFilter(configuration)
        conversation = ControlConversation(maximumLineLength: configuration.maximumLineLength)
        self.completesListenersAtOnce = completesListenersAtOnce
    }

    // MARK: Running

    /// With `respectingFlowControl`, a side is read only while the filter wants its bytes (as the loop does).
    mutating func run(_ steps: [FilterScript.Step], respectingFlowControl: Bool, readSize: Int = .max) {
        boundsApply = respectingFlowControl
        for step in steps {
            switch step {
            case .bytes(let side, let bytes):
                feed(side, bytes, respectingFlowControl: respectingFlowControl, readSize: readSize)
            case .flood(let side, let bytes, let times):
                for _ in 0..<times {
                    guard !respectingFlowControl || wants(side) else { break }
                    feed(side, bytes, respectingFlowControl: respectingFlowControl, readSize: readSize)
                }
            case .completeOne(let selector):
                guard !pending.isEmpty else { continue }
                complete(pending.remove(at: Int(selector & 0x7F) % pending.count), success: selector & 0x80 == 0,
                         reason: "fuzz failure \(selector)")
            case .completeAll:
                completeAllPending()
            case .end(.client):
                guard !clientEnded else { continue }
                clientEnded = true
                perform(filter.clientEnded(conversation.commandsEnded()))
            case .end(.server):
                guard !serverEnded else { continue }
                serverEnded = true
                perform(filter.serverEnded(conversation.repliesEnded()))
            }
        }
    }

    /// The end of the session: every completion delivered, both sides ended. The loop closes the client once the
    /// server has ended and nothing is held, so something still held here is a connection never closed.
    mutating func finish() {
        completeAllPending()
        if !clientEnded { clientEnded = true; perform(filter.clientEnded(conversation.commandsEnded())) }
        completeAllPending()
        if !serverEnded { serverEnded = true; perform(filter.serverEnded(conversation.repliesEnded())) }
        completeAllPending()
        fuzzCheck(filter.awaitedCompletions.isEmpty, "completions awaited after all were delivered: \(filter.awaitedCompletions)")
        fuzzCheck(!filter.hasHeldOutput, "output still held after both sides ended and every completion arrived: \(filter.heldByteCounts)")
    }

    private func wants(_ side: FilterScript.Side) -> Bool {
        side == .client ? filter.wantsClientBytes : filter.wantsServerBytes
    }

    private mutating func feed(_ side: FilterScript.Side, _ bytes: [UInt8], respectingFlowControl: Bool, readSize: Int) {
        guard !bytes.isEmpty else { return }
        guard !respectingFlowControl || wants(side) else { return }
        // Bytes after an end of stream cannot arrive from that side.
        if side == .client, clientEnded { return }
        if side == .server, serverEnded { return }
        var start = 0
        while start < bytes.count {
            let read = bytes[start..<min(bytes.count, start + readSize)]
            perform(side == .client ? filter.clientUnits(conversation.commands(read)) : filter.serverUnits(conversation.replies(read)))
            start += read.count
        }
    }

    private mutating func completeAllPending() {
        while !pending.isEmpty { complete(pending.removeFirst(), success: true, reason: "") }
    }

    private mutating func complete(_ item: Pending, success: Bool, reason: String) {
        switch (item, success) {
        case (.listener(let id), true): perform(filter.listenerOpened(id, localPort: 40000 + id.rawValue % 20000))
        case (.listener(let id), false): perform(filter.listenerFailed(id, reason: reason))
        case (.active(let id), true): perform(filter.activeConnected(id))
        case (.active(let id), false):
            // Either way an active conversion can fail: the connection (425) or the owner check (501).
            perform(reason.utf8.count % 2 == 0 ? filter.activeConnectFailed(id, reason: reason) : filter.activeRefused(id, reason: reason))
        }
    }

    // MARK: Actions and invariants

    private mutating func perform(_ actions: [Action]) {
        var completeNow: [Pending] = []
        for action in actions {
            switch action {
            case .sendToServer(let units):
                fuzzCheck(!units.isEmpty && units.allSatisfy { !$0.raw.isEmpty }, "an empty send to the server")
                transcript.toServer += units.flatMap(\.raw)
            case .sendToClient(let bytes):
                fuzzCheck(!bytes.isEmpty, "an empty send to the client")
                transcript.toClient += bytes
            case .openPassiveListener(let id, let target, _):
                issue(id)
                fuzzCheck((1...65535).contains(target.port), "listener target port \(target.port)")
                transcript.control.append(action)
                if completesListenersAtOnce { completeNow.append(.listener(id)) } else { pending.append(.listener(id)) }
            case .connectActive(let id, let server, let client):
                issue(id)
                fuzzCheck((1...65535).contains(server.port) && (1024...65535).contains(client.port),
                          "active-mode endpoints \(server) → \(client)")
                transcript.control.append(action)
                pending.append(.active(id))
            case .releaseData(let id):
                fuzzCheck(issued.contains(id.rawValue), "released \(id), which was never asked for")
                transcript.control.append(action)
            case .log:
                break
            }
        }
        checkHeldBytes()
        let asked = Set(pending.map(\.id)).union(completeNow.map(\.id))
        for id in filter.awaitedCompletions {
            fuzzCheck(asked.contains(id), "awaits \(id), which is not pending")
        }
        for item in completeNow { complete(item, success: true, reason: "") }
    }

    private mutating func issue(_ id: DataID) {
        fuzzCheck(id.rawValue > highestIssued, "\(id) issued after data#\(highestIssued): ids must grow")
        highestIssued = id.rawValue
        issued.insert(id.rawValue)
    }

    /// Memory per control connection is bounded: what the filter holds never exceeds its cap by more than one
    /// read's worth of input at the filter's largest expansion (a 5-byte `AUTH` line answered with a 132-byte
    /// line), plus one completion's reply.
    private func checkHeldBytes() {
        guard boundsApply else { return }
        let cap = filter.configuration.maximumHeldBytes
        let held = filter.heldByteCounts
        let slack = Self.largestExpansion * FilterScript.largestRead + Self.largestCompletionReply
        fuzzCheck(held.forClient <= cap + slack, "\(held.forClient) bytes held for the client, cap \(cap) + \(slack)")
        fuzzCheck(held.fromClient <= cap + FilterScript.largestRead,
                  "\(held.fromClient) client bytes held, cap \(cap) + \(FilterScript.largestRead)")
        if Self.checksLocalAnswers {
            fuzzCheck(held.forClient + held.localAnswers <= cap + slack,
                      "\(held.forClient) bytes held for the client and \(held.localAnswers) of local answers, cap \(cap) + \(slack)")
        }
    }

    /// The filter's own answers (534 to AUTH, 502 to LPSV …) queued behind a server reply count against the same
    /// cap (the filter stops reading the client past it; seed `auth-flood-small-cap`). `FUZZ_CHECK_LOCAL_ANSWERS=0`
    /// turns the check off.
    static let checksLocalAnswers = getenv("FUZZ_CHECK_LOCAL_ANSWERS").map { String(cString: $0) != "0" } ?? true

    static let largestExpansion = 32
    static let largestCompletionReply = 1024

    // MARK: Read boundaries

    /// The same steps, flow control aside, fed whole and one byte per read: both sides must see the same bytes
    /// and the loop the same data actions (RawLineSplitter and the filter promise independence from the split).
    static func checkReadBoundariesDoNotMatter(_ script: FilterScript) {
        let volume = script.steps.reduce(0) { total, step in
            switch step {
            case .bytes(_, let bytes): return total + bytes.count
            case .flood(_, let bytes, let times): return total + bytes.count * times
            default: return total
            }
        }
        guard volume <= maximumDripFedVolume else { return }
        var whole = FilterDriver(script.configuration, completesListenersAtOnce: script.completesListenersAtOnce)
        whole.run(script.steps, respectingFlowControl: false)
        var dripped = FilterDriver(script.configuration, completesListenersAtOnce: script.completesListenersAtOnce)
        dripped.run(script.steps, respectingFlowControl: false, readSize: 1)
        fuzzCheck(whole.transcript == dripped.transcript, """
            read boundaries changed the result:
            whole:    \(whole.transcript)
            dripped:  \(dripped.transcript)
            """)
    }

    static let maximumDripFedVolume = 4 * 1024
}
