import Foundation
import Logging
import FTPCore

/// The rewrite-mode filter on one FTP control connection: a pure state machine between the local FTP client and
/// the server's control channel (OpenSSH's "channel filter" shape). The forwarding loop feeds it bytes from either
/// side and performs the returned actions in order; it never does I/O, reads clocks or starts threads.
///
/// What it changes (everything else passes byte for byte, in order):
/// - Every 227/229 reply (the PASV/EPSV answer, also when pipelining confuses correlation) becomes a single line
///   pointing at a new one-shot local listener (`openPassiveListener`); the reply is held, and all later output to
///   the client behind it, until `listenerOpened`/`listenerFailed`. A 227/229 that cannot be read becomes a 425.
///   227 answers PASV (IPv4 listener), 229 answers EPSV (listener in the client's family).
///   Lines inside another multi-line reply (STAT, HELP) are text, never rewritten.
/// - PORT/EPRT (active mode) are never forwarded. A loopback address with a port ≥ 1024 is converted at once:
///   the filter sends EPSV (PASV when the server rejects EPSV with 500/501/502/522) in its place, swallows that
///   reply, asks the loop to `connectActive`, and answers the client 200 once `activeConnected` arrives. Client
///   commands after the PORT wait meanwhile, so a REST/RETR that follows keeps its place right after the PORT.
///   Any other address is refused with 501 and nothing is connected; so is a target the loop finds is not the
///   client's own socket (`activeRefused`).
/// - `AUTH …` is answered 534 locally: the session stays plain FTP inside SSH. FEAT passes unchanged.
/// - `EPSV ALL` is answered 200 locally and enforced here (later PORT/EPRT/PASV get 503, RFC 2428 §4): the client
///   side is loopback, so the server keeps its freedom to fall back to PASV for active-mode conversions.
/// - An EPSV that the server rejects (500/501/502/522) from an IPv6 client, or from a client that promised EPSV
///   ALL, is retried as PASV and answered 229, since such a client cannot use a 227 (once the server is known to
///   reject EPSV, such EPSVs go out as PASV at once); other IPv4 clients see the rejection and fall back themselves.
/// - `EPSV 1`/`EPSV 2` are sent as plain `EPSV` (the family concerns the client's listener, not the server side);
///   empty command lines are dropped (servers disagree on whether they answer them).
/// - Only the commands `TunnelVerbPolicy` allows reach the server: LPRT, LPSV, SPSV, P@SW, unknown verbs and lines
///   without a verb are answered locally (502/500), since they could open a data path outside the tunnel.
///
/// Replies are matched to commands in order (pipelining works); local answers are queued behind the replies to
/// earlier commands so the client sees them in its own order. Lines longer than `maximumLineLength` are not
/// buffered: they pass through raw in pieces (an over-long PORT/EPRT/AUTH/PASV/EPSV line is refused with 500).
///
/// Loop contract:
/// 1. One filter per control connection, created on accept with the client's address family, fed by the
///    connection's `ControlConversation` (which frames each stream once for every consumer).
/// 2. Read the client only while `wantsClientBytes` and the server only while `wantsServerBytes`; hand every read's
///    units to `clientUnits`/`serverUnits` and perform the returned actions in order.
/// 3. Answer each `openPassiveListener` with exactly one `listenerOpened`/`listenerFailed`, and each
///    `connectActive` with `activeConnected`/`activeConnectFailed`/`activeRefused`, now or in a later pass; output for the client
///    waits for them. Data IDs are per filter: key listeners by (control connection, id).
/// 4. `releaseData`: close that listener if it has not accepted yet; connections already made (passive or
///    active) run until either side closes them.
/// 5. On end of stream call `clientEnded`/`serverEnded` and perform the actions; close the client once the
///    server has ended and `hasHeldOutput` is false (keep delivering completions for `awaitedCompletions`).
public struct ControlStreamFilter: Sendable {
    public struct Configuration: Sendable, Equatable {
        /// The FTP server's host as seen from the SSH server; data channels go there.
        public var ftpHost: String
        /// `.server` trusts the IP in 227 replies; `.ignore` (default) uses `ftpHost` with the announced port.
        public var passiveHost: TunnelSettings.PassiveHostPolicy
        /// Family of the client's control connection (EPSV listeners follow it; 227 is always IPv4).
        public var clientFamily: AddressFamily
        /// The IPv4 address put in rewritten 227 replies: where the loop binds IPv4 listeners.
        public var listenAddress: String
        /// Longest line the `ControlConversation` feeding this filter buffers; longer lines reach the filter in
        /// pieces and pass through raw.
        public var maximumLineLength: Int
        /// Held-back bytes per direction above which `wantsClientBytes`/`wantsServerBytes` turn false.
        public var maximumHeldBytes: Int
        /// Commands forwarded and not yet answered above which the client is not read (pipelining stays possible,
        /// the bookkeeping stays bounded).
        public var maximumOutstandingCommands: Int
        /// Log every command and reply (`.log(.debug, …)`, PASS masked), marking what the filter answered, sent
        /// or rewrote itself. Off: no trace strings are built.
        public var traces: Bool

        public static let defaultMaximumHeldBytes = 256 * 1024
        public static let defaultMaximumOutstandingCommands = 1024

        public init(ftpHost: String, passiveHost: TunnelSettings.PassiveHostPolicy = .ignore,
                    clientFamily: AddressFamily = .ipv4, listenAddress: String = "127.0.0.1",
                    maximumLineLength: Int = RawLineSplitter.defaultMaximumLineLength,
                    maximumHeldBytes: Int = Configuration.defaultMaximumHeldBytes,
                    maximumOutstandingCommands: Int = Configuration.defaultMaximumOutstandingCommands,
                    traces: Bool = false) {
            self.ftpHost = ftpHost
            self.passiveHost = passiveHost
            self.clientFamily = clientFamily
            self.listenAddress = listenAddress
            self.maximumLineLength = maximumLineLength
            self.maximumHeldBytes = maximumHeldBytes
            self.maximumOutstandingCommands = maximumOutstandingCommands
            self.traces = traces
        }
    }

    public let configuration: Configuration

    // Client → server
    private var clientOverlongLine: OverlongClientLine?
    private var heldClientEvents: [ClientEvent] = []
    private var heldClientByteCount = 0
    private var epsvAllActive = false
    private var serverRejectsEPSV = false
    private var activeConversion: ActiveConversion?
    /// Set by `serverEnded`: client input held behind a conversion is then dropped, never replayed.
    private var serverHasEnded = false

    // Server → client
    private var currentReply: ReplyInProgress?
    /// Role of the server line being passed in over-long pieces, applied when it ends.
    private var overlongServerRole: ReplyParser.LineRole?
    private var expected: [Expectation] = [Expectation(kind: .greeting)]
    /// Bytes of the filter's own replies waiting in `expected[].localRepliesAfter`.
    private var localReplyByteCount = 0
    private var toClient: [Outgoing] = []

    private var nextDataNumber = 1
    private var lastDataID: DataID?

    public init(_ configuration: Configuration) {
        self.configuration = configuration
    }

    // MARK: Loop-facing state

    /// False while too much client input waits behind an active-mode conversion, too many of the filter's own
    /// replies wait behind the server's (a flood of locally answered commands), or too many commands await their
    /// replies: stop reading the client until the backlog shrinks.
    public var wantsClientBytes: Bool {
        heldClientByteCount < configuration.maximumHeldBytes
            && localReplyByteCount + heldBytesForClient < configuration.maximumHeldBytes
            && expected.count < configuration.maximumOutstandingCommands
    }

    /// False while too much output for the client waits behind a pending listener: stop reading the server.
    public var wantsServerBytes: Bool { heldBytesForClient < configuration.maximumHeldBytes }

    /// Data endpoints whose completion (`listenerOpened`/`listenerFailed`, `activeConnected`/
    /// `activeConnectFailed`) the filter is waiting for; output to the client is held until they arrive.
    public var awaitedCompletions: [DataID] {
        toClient.compactMap {
            switch $0 {
            case .bytes: return nil
            case .awaitingListener(let id, _), .awaitingActive(let id): return id
            }
        }
    }

    /// True while bytes for either side are held back.
    public var hasHeldOutput: Bool { !toClient.isEmpty || !heldClientEvents.isEmpty }

    /// Bytes held back now: output for the client waiting behind a pending completion, the filter's own answers
    /// waiting behind the server's reply to an earlier command, and client input waiting behind an active-mode
    /// conversion. What `maximumHeldBytes` is meant to bound; read by the fuzz targets' invariants.
    public var heldByteCounts: (forClient: Int, localAnswers: Int, fromClient: Int) {
        let localAnswers = expected.reduce(0) { $0 + $1.localRepliesAfter.reduce(0) { $0 + $1.count } }
        return (heldBytesForClient, localAnswers, heldClientByteCount)
    }

    // MARK: Input

    /// Commands the client sent, framed by the connection's `ControlConversation`.
    public mutating func clientUnits(_ units: [ControlConversation.Unit]) -> [Action] {
        var actions: [Action] = []
        for unit in units { handleClientEvent(.unit(unit), &actions) }
        return finish(&actions)
    }

    /// Reply lines from the server, framed and classified by the connection's `ControlConversation`.
    public mutating func serverUnits(_ units: [ControlConversation.Unit]) -> [Action] {
        var actions: [Action] = []
        for unit in units { handleServerUnit(unit, &actions) }
        return finish(&actions)
    }

    /// The client closed its side (`unterminated`: its unfinished last line, `ControlConversation.commandsEnded`):
    /// that line is forwarded raw unless it is a command the filter must not forward.
    public mutating func clientEnded(_ unterminated: ControlConversation.Unit? = nil) -> [Action] {
        var actions: [Action] = []
        handleClientEvent(.end(unterminated), &actions)
        return finish(&actions)
    }

    /// The server closed its side (`unterminated`: its unfinished last line, `ControlConversation.repliesEnded`):
    /// that line is passed raw, an unfinished passive reply is dropped, and an active-mode conversion waiting for
    /// the server is abandoned. Keep delivering completions for `awaitedCompletions`, then close the client once
    /// `hasHeldOutput` is false.
    public mutating func serverEnded(_ unterminated: ControlConversation.Unit? = nil) -> [Action] {
        var actions: [Action] = []
        if let reply = currentReply, reply.disposition != .pass {
            actions.append(.log(.warning, "The FTP server closed the control connection in the middle of a \(reply.code) reply."))
        } else if let unterminated {
            appendToClient(unterminated.raw)
        }
        currentReply = nil
        serverHasEnded = true
        if let conversion = activeConversion, conversion.stage != .connecting {
            activeConversion = nil
            heldClientEvents = []
            heldClientByteCount = 0
        }
        return finish(&actions)
    }

    // MARK: Completions

    /// The listener for `id` is bound to `localPort`: the rewritten reply goes out.
    public mutating func listenerOpened(_ id: DataID, localPort: Int) -> [Action] {
        var actions: [Action] = []
        guard let index = toClient.firstIndex(where: { $0.awaitsListener(id) }),
              case .awaitingListener(_, let style) = toClient[index] else {
            return [.releaseData(id), .log(.debug, "Listener \(id) opened but no reply waits for it; released.")]
        }
        let local = PassiveEndpoint(host: configuration.listenAddress, port: localPort)
        let reply: String
        switch style {
        case .pasv:
            guard let text = local.passiveReply() else {
                toClient[index] = .bytes(Self.line(FilterReply.listenerFailed("the listen address \(configuration.listenAddress) is not IPv4")))
                actions.append(.releaseData(id))
                return finish(&actions)
            }
            reply = text
        case .epsv:
            reply = local.extendedPassiveReply()
        }
        toClient[index] = .bytes(Self.line(reply))
        actions.append(.log(.debug, "\(id): client data port \(localPort) announced."))
        trace("tunnel rewrote the reply to: \(reply)", &actions)
        return finish(&actions)
    }

    /// The listener for `id` could not be opened: the client gets 425 instead of the passive reply.
    public mutating func listenerFailed(_ id: DataID, reason: String) -> [Action] {
        var actions: [Action] = []
        guard let index = toClient.firstIndex(where: { $0.awaitsListener(id) }) else { return [] }
        toClient[index] = .bytes(Self.line(FilterReply.listenerFailed(Self.sanitized(reason))))
        trace("tunnel answered: \(FilterReply.listenerFailed(Self.sanitized(reason)))", &actions)
        actions.append(.log(.warning, "\(id): no local data listener (\(Self.sanitized(reason))); the client was told 425."))
        return finish(&actions)
    }

    /// The active-mode data connection for `id` reached the client: the PORT/EPRT is answered 200 and the
    /// client's next commands flow again.
    public mutating func activeConnected(_ id: DataID) -> [Action] {
        var actions: [Action] = []
        guard let conversion = activeConversion, conversion.id == id, conversion.stage == .connecting,
              let index = toClient.firstIndex(where: { $0.awaitsActive(id) }) else { return [] }
        toClient[index] = .bytes(Self.line(FilterReply.activeAccepted(verb: conversion.verb)))
        trace("tunnel answered: \(FilterReply.activeAccepted(verb: conversion.verb))", &actions)
        endActiveConversion(&actions)
        return finish(&actions)
    }

    /// The active-mode data connection for `id` failed: the PORT/EPRT is answered 425.
    public mutating func activeConnectFailed(_ id: DataID, reason: String) -> [Action] {
        var actions: [Action] = []
        guard let conversion = activeConversion, conversion.id == id, conversion.stage == .connecting,
              let index = toClient.firstIndex(where: { $0.awaitsActive(id) }) else { return [] }
        toClient[index] = .bytes(Self.line(FilterReply.activeConnectFailed(Self.sanitized(reason))))
        trace("tunnel answered: \(FilterReply.activeConnectFailed(Self.sanitized(reason)))", &actions)
        actions.append(.log(.warning, "\(id): active-mode connection to \(conversion.client) failed (\(Self.sanitized(reason)))."))
        endActiveConversion(&actions)
        return finish(&actions)
    }

    /// The active-mode target for `id` is not the client's own socket (another user's listener, or a connection
    /// that reached one): the PORT/EPRT is answered 501 and nothing is sent over the connection.
    public mutating func activeRefused(_ id: DataID, reason: String) -> [Action] {
        var actions: [Action] = []
        guard let conversion = activeConversion, conversion.id == id, conversion.stage == .connecting,
              let index = toClient.firstIndex(where: { $0.awaitsActive(id) }) else { return [] }
        toClient[index] = .bytes(Self.line(FilterReply.activeNotOwnSocket(verb: conversion.verb)))
        trace("tunnel answered: \(FilterReply.activeNotOwnSocket(verb: conversion.verb))", &actions)
        actions.append(.log(.warning, "\(id): refused \(conversion.verb) to \(conversion.client): \(Self.sanitized(reason))."))
        endActiveConversion(&actions)
        return finish(&actions)
    }

    // MARK: Client side

    private mutating func handleClientEvent(_ event: ClientEvent, _ actions: inout [Action]) {
        if activeConversion != nil {
            heldClientEvents.append(event)
            heldClientByteCount += event.byteCount
            return
        }
        switch event {
        case .unit(let unit) where unit.piece == .line:
            handleCommandLine(unit, &actions)
        case .unit(let unit) where unit.piece == .overlongStart:
            if !Self.mayPassUnread(unit.raw) {
                clientOverlongLine = .refused
                answerLocally(FilterReply.lineTooLong, &actions)
                actions.append(.log(.warning, "Refused an over-long \(Self.verb(of: unit.raw) ?? "unreadable") command line from the client."))
            } else {
                clientOverlongLine = .forwarded
                expected.append(Expectation(kind: .command))
                actions.append(.sendToServer([unit]))
            }
        case .unit(let unit):
            if case .overlongRest(let ended) = unit.piece {
                if clientOverlongLine == .forwarded { actions.append(.sendToServer([unit])) }
                if ended { clientOverlongLine = nil }
            } else {
                // An unterminated line handed in as a unit: the end of the client's stream.
                handleClientEvent(.end(unit), &actions)
            }
        case .end(let unterminated):
            guard let partial = unterminated?.raw, !partial.isEmpty else { return }
            if !Self.mayPassUnread(partial) {
                actions.append(.log(.debug, "Dropped an unfinished \(Self.verb(of: partial) ?? "unreadable") line at the end of the client's stream."))
            } else {
                actions.append(.sendToServer([ControlConversation.Unit(raw: partial, piece: .unterminated)]))
            }
        }
    }

    private mutating func handleCommandLine(_ line: ControlConversation.Unit, _ actions: inout [Action]) {
        let content = line.content
        if content.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }) {
            actions.append(.log(.debug, "Dropped an empty command line from the client."))
            return
        }
        switch TunnelVerbPolicy.decide(content) {
        case .forward, .active("PORT"), .active("EPRT"):
            break
        case let refused:
            let verb = TunnelVerbPolicy.verb(of: content).map { Self.sanitized($0) } ?? "a line without a verb"
            actions.append(.log(.info, "Answered \(verb) from the client locally: the tunnel does not pass it to the server."))
            return answerLocally(TunnelVerbPolicy.refusal(for: refused) ?? FilterReply.lineTooLong, &actions)
        }
        guard let command = line.command else {
            trace("client: \(Self.sanitized(String(decoding: content, as: UTF8.self)))", &actions)
            forward(line, as: .command, &actions)
            return
        }
        if configuration.traces {
            let shown = command.verb == "PASS" ? "PASS ****" : Self.sanitized(String(decoding: content, as: UTF8.self))
            trace("client: \(shown)", &actions)
        }
        switch command.verb {
        case "AUTH":
            answerLocally(FilterReply.authRefused, &actions)
        case "PORT":
            guard !epsvAllActive else { return answerLocally(FilterReply.refusedAfterEPSVAll("PORT"), &actions) }
            guard let endpoint = PassiveEndpoint.parseSixNumbers(Substring(command.argument)) else {
                return answerLocally(FilterReply.portSyntax, &actions)
            }
            beginActiveConversion(to: endpoint, verb: "PORT", &actions)
        case "EPRT":
            guard !epsvAllActive else { return answerLocally(FilterReply.refusedAfterEPSVAll("EPRT"), &actions) }
            let argument = Substring(command.argument.trimmingCharacters(in: .whitespaces))
            guard let (_, endpoint) = PassiveEndpoint.parseExtendedPort(argument) else {
                let unknownFamily = Self.hasUnknownFamily(argument)
                return answerLocally(unknownFamily ? FilterReply.unsupportedFamily : FilterReply.eprtSyntax, &actions)
            }
            beginActiveConversion(to: endpoint, verb: "EPRT", &actions)
        case "PASV":
            guard !epsvAllActive else { return answerLocally(FilterReply.refusedAfterEPSVAll("PASV"), &actions) }
            forward(line, as: .passive(.pasv, .ipv4), &actions)
        case "EPSV":
            switch command.argument.trimmingCharacters(in: .whitespaces).uppercased() {
            case "" where serverRejectsEPSV && (epsvAllActive || configuration.clientFamily == .ipv6):
                // The server is known not to do EPSV and the client cannot take a 227: ask with PASV, answer 229.
                trace("tunnel sent: PASV in place of EPSV (the server has no EPSV)", &actions)
                forward(.command(Self.plainPASV), as: .epsvViaPASV(configuration.clientFamily), &actions)
            case "":
                forward(line, as: .passive(.epsv, configuration.clientFamily), &actions)
            case "ALL":
                epsvAllActive = true
                answerLocally(FilterReply.epsvAllAccepted, &actions)
            case "1":
                forward(.command(Self.plainEPSV), as: .passive(.epsv, .ipv4), &actions)
            case "2":
                forward(.command(Self.plainEPSV), as: .passive(.epsv, .ipv6), &actions)
            default:
                answerLocally(FilterReply.unsupportedFamily, &actions)
            }
        case "REIN":
            epsvAllActive = false
            forward(line, as: .command, &actions)
        default:
            forward(line, as: .command, &actions)
        }
    }

    private mutating func forward(_ line: ControlConversation.Unit, as kind: Expectation.Kind, _ actions: inout [Action]) {
        expected.append(Expectation(kind: kind))
        actions.append(.sendToServer([line]))
    }

    /// Queues a reply of the filter's own behind the replies to every command sent before it.
    private mutating func answerLocally(_ text: String, _ actions: inout [Action]) {
        trace("tunnel answered: \(text)", &actions)
        let bytes = Self.line(text)
        if expected.isEmpty {
            appendToClient(bytes)
        } else {
            expected[expected.count - 1].localRepliesAfter.append(bytes)
            localReplyByteCount += bytes.count
        }
    }

    // MARK: Active mode

    private mutating func beginActiveConversion(to client: PassiveEndpoint, verb: String, _ actions: inout [Action]) {
        guard let host = client.host, LoopbackAddress.isLoopback(host) else {
            actions.append(.log(.warning, "Refused \(verb) to \(client): active-mode connections go to loopback addresses only."))
            return answerLocally(FilterReply.activeNotLoopback(verb: verb), &actions)
        }
        guard client.port >= Self.lowestActivePort else {
            actions.append(.log(.warning, "Refused \(verb) to \(client): privileged ports are not accepted."))
            return answerLocally(FilterReply.activePrivilegedPort(verb: verb), &actions)
        }
        guard !serverHasEnded else {
            // Nobody could answer the EPSV/PASV; a conversion started now would hold later input forever.
            return answerLocally(FilterReply.activeConnectFailed("the FTP server closed the control connection"), &actions)
        }
        activeConversion = ActiveConversion(id: nil, client: client, verb: verb, stage: .waitingForQueue)
        if expected.isEmpty { sendPassiveRequestForActiveMode(&actions) }
    }

    private mutating func sendPassiveRequestForActiveMode(_ actions: inout [Action]) {
        let useEPSV = !serverRejectsEPSV
        activeConversion?.stage = useEPSV ? .sentEPSV : .sentPASV
        trace("tunnel sent: \(useEPSV ? "EPSV" : "PASV") (active mode converted to passive)", &actions)
        expected.append(Expectation(kind: .synthesized))
        actions.append(.sendToServer([.command(useEPSV ? Self.plainEPSV : Self.plainPASV)]))
    }

    /// The server answered the EPSV/PASV the filter sent for an active-mode conversion.
    private mutating func continueActiveConversion(with reply: ReplyInProgress, _ actions: inout [Action]) {
        guard let conversion = activeConversion else { return }
        if let target = passiveTarget(of: reply, &actions) {
            // The id is taken only now, so data endpoints are numbered (and released) in the order they open.
            let id = allocateDataID(&actions)
            actions.append(.connectActive(id, server: target, client: conversion.client))
            activeConversion?.id = id
            activeConversion?.stage = .connecting
            toClient.append(.awaitingActive(id))
            return
        }
        if conversion.stage == .sentEPSV, Self.epsvRejectionCodes.contains(reply.code), !reply.isPassiveCode {
            serverRejectsEPSV = true
            actions.append(.log(.debug, "The server rejected EPSV (\(reply.code)); using PASV for active-mode conversions."))
            sendPassiveRequestForActiveMode(&actions)
            return
        }
        let code = reply.isPassiveCode || !(400..<600).contains(reply.code) ? ReplyCode.cannotOpenData : reply.code
        answerLocally(FilterReply.activeServerRefused(code: code, verb: conversion.verb, server: Self.sanitized(reply.text)), &actions)
        actions.append(.log(.warning, "\(conversion.verb) could not be converted: the server answered \(Self.sanitized(reply.firstLine))"))
        endActiveConversion(&actions)
    }

    private mutating func endActiveConversion(_ actions: inout [Action]) {
        activeConversion = nil
        let events = heldClientEvents
        heldClientEvents = []
        heldClientByteCount = 0
        // With the server gone, a replayed PORT would start a conversion nobody can answer and hold output forever.
        guard !serverHasEnded else { return }
        for event in events { handleClientEvent(event, &actions) }
    }

    // MARK: Server side

    private mutating func handleServerUnit(_ unit: ControlConversation.Unit, _ actions: inout [Action]) {
        switch unit.piece {
        case .line:
            let content = unit.content
            let role = unit.role ?? .stray
            absorbServerLine(role: role, raw: unit.raw, content: content)
            if configuration.traces {
                let note: String
                switch currentReply?.disposition {
                case .swallow?: note = " (answer to the tunnel's own command, not shown to the client)"
                case .fallBackToPASV?: note = " (not shown: the tunnel asks with PASV instead)"
                case .rewrite?: note = " (rewritten for the client)"
                case .pass?, nil: note = ""
                }
                trace("server: \(Self.sanitized(String(decoding: content, as: UTF8.self)))\(note)", &actions)
            }
            endServerLine(role: role, &actions)
        case .overlongStart:
            let role = unit.role ?? .stray
            overlongServerRole = role
            absorbServerLine(role: role, raw: unit.raw, content: nil)
        case .overlongRest(let ended):
            if currentReply == nil || currentReply?.disposition == .pass { appendToClient(unit.raw) }
            if ended, let role = overlongServerRole {
                overlongServerRole = nil
                endServerLine(role: role, &actions)
            }
        case .unterminated:
            // Only the end of the server's stream has an unterminated line: pass it as `serverEnded` would.
            if currentReply == nil || currentReply?.disposition == .pass { appendToClient(unit.raw) }
        }
    }

    /// Starts a reply if the line opens one, then passes, collects or swallows the line. `content` is nil for the
    /// first piece of an over-long line.
    private mutating func absorbServerLine(role: ReplyParser.LineRole, raw: [UInt8], content: ArraySlice<UInt8>?) {
        switch role {
        case .single(let code), .first(let code):
            currentReply = ReplyInProgress(code: code, disposition: disposition(forReplyCode: code))
        case .continuation, .last, .stray:
            break
        }
        guard var reply = currentReply, reply.disposition != .pass else {
            appendToClient(raw)
            return
        }
        reply.rawByteCount += raw.count
        if let content, reply.rawByteCount <= Self.maximumCollectedReplyBytes {
            reply.lines.append(String(decoding: content, as: UTF8.self))
        } else {
            reply.isDamaged = true
        }
        currentReply = reply
    }

    private mutating func endServerLine(role: ReplyParser.LineRole, _ actions: inout [Action]) {
        switch role {
        case .single, .last:
            guard let reply = currentReply else { return }
            currentReply = nil
            finishReply(reply, &actions)
        case .first, .continuation, .stray:
            break
        }
    }

    private func disposition(forReplyCode code: Int) -> ReplyInProgress.Disposition {
        switch expected.first?.kind {
        case .synthesized?:
            return .swallow
        case .passive(let style, let family)? where ReplyInProgress.passiveCodes.contains(code):
            return .rewrite(style, family)
        case .passive(.epsv, let family)? where Self.epsvRejectionCodes.contains(code) && expected.count == 1
                    && (family == .ipv6 || epsvAllActive):
            // An IPv6 client cannot use a 227, and a client that said EPSV ALL may not fall back to PASV: get the
            // port with PASV and answer 229. Only when nothing else is outstanding, so the PASV reply cannot be
            // confused with another.
            return .fallBackToPASV
        case .epsvViaPASV(let family)? where ReplyInProgress.passiveCodes.contains(code):
            return .rewrite(.epsv, family)
        default:
            guard ReplyInProgress.passiveCodes.contains(code) else { return .pass }
            return code == ReplyCode.enteringPassive
                ? .rewrite(.pasv, .ipv4) : .rewrite(.epsv, configuration.clientFamily)
        }
    }

    private mutating func finishReply(_ reply: ReplyInProgress, _ actions: inout [Action]) {
        if case .rewrite(let style, let family) = reply.disposition {
            rewritePassiveReply(reply, style: style, family: family, &actions)
        }
        guard reply.code >= 200 else { return }
        let answered = expected.isEmpty ? nil : expected.removeFirst()
        if reply.disposition == .fallBackToPASV, let answered, case .passive(_, let family) = answered.kind {
            serverRejectsEPSV = true
            expected.append(Expectation(kind: .epsvViaPASV(family), localRepliesAfter: answered.localRepliesAfter))
            actions.append(.log(.debug, "The server rejected EPSV (\(reply.code)); asking with PASV to answer the client with 229."))
            trace("tunnel sent: PASV (the client needs a 229)", &actions)
            actions.append(.sendToServer([.command(Self.plainPASV)]))
            return
        }
        for bytes in answered?.localRepliesAfter ?? [] {
            localReplyByteCount -= bytes.count
            appendToClient(bytes)
        }
        if answered?.kind == .synthesized, reply.disposition == .swallow {
            continueActiveConversion(with: reply, &actions)
        }
        if expected.isEmpty, activeConversion?.stage == .waitingForQueue {
            sendPassiveRequestForActiveMode(&actions)
        }
    }

    private mutating func rewritePassiveReply(_ reply: ReplyInProgress, style: PassiveStyle, family: AddressFamily,
                                              _ actions: inout [Action]) {
        guard let target = passiveTarget(of: reply, &actions) else {
            appendToClient(Self.line(FilterReply.unreadablePassiveReply))
            return
        }
        let id = allocateDataID(&actions)
        actions.append(.log(.debug, "\(id): server said \"\(Self.sanitized(reply.firstLine))\"; data channel goes to \(target)."))
        actions.append(.openPassiveListener(id, target: target, family: family))
        toClient.append(.awaitingListener(id, style))
    }

    /// Where the data channel for a 227/229 reply goes; nil (after logging) when the reply cannot be read.
    private func passiveTarget(of reply: ReplyInProgress, _ actions: inout [Action]) -> PassiveEndpoint? {
        guard reply.isPassiveCode else { return nil }
        let parsed = reply.isDamaged ? nil : PassiveReplyParser.endpoint(of: FTPReply(code: reply.code, lines: reply.lines))
        guard let announced = parsed else {
            actions.append(.log(.warning, "Could not read the server's passive reply \"\(Self.sanitized(reply.firstLine))\"; the client was told 425."))
            return nil
        }
        if reply.code == ReplyCode.enteringPassive, configuration.passiveHost == .server,
           let host = announced.host, host != Self.unspecifiedIPv4 {
            return announced
        }
        return PassiveEndpoint(host: configuration.ftpHost, port: announced.port)
    }

    private mutating func allocateDataID(_ actions: inout [Action]) -> DataID {
        if let previous = lastDataID { actions.append(.releaseData(previous)) }
        let id = DataID(nextDataNumber)
        nextDataNumber += 1
        lastDataID = id
        return id
    }

    // MARK: Output

    private mutating func appendToClient(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        if case .bytes(var existing)? = toClient.last {
            toClient.removeLast()  // leaves `existing` uniquely referenced, so the append does not copy
            existing += bytes
            toClient.append(.bytes(existing))
        } else {
            toClient.append(.bytes(bytes))
        }
    }

    private var heldBytesForClient: Int {
        toClient.reduce(0) { total, item in
            if case .bytes(let bytes) = item { return total + bytes.count }
            return total
        }
    }

    /// Releases output up to the first reply still waiting, and merges neighbouring sends.
    private mutating func finish(_ actions: inout [Action]) -> [Action] {
        var ready: [UInt8] = []
        var released = 0
        for item in toClient {
            guard case .bytes(let bytes) = item else { break }
            ready += bytes
            released += 1
        }
        toClient.removeFirst(released)
        if !ready.isEmpty { actions.append(.sendToClient(ready)) }
        var merged: [Action] = []
        for action in actions {
            switch (merged.last, action) {
            case (.sendToServer(let a)?, .sendToServer(let b)):
                merged[merged.count - 1] = .sendToServer(a + b)
            case (.sendToClient(let a)?, .sendToClient(let b)):
                merged[merged.count - 1] = .sendToClient(a + b)
            default:
                merged.append(action)
            }
        }
        return merged
    }

    // MARK: Helpers

    private func trace(_ text: @autoclosure () -> String, _ actions: inout [Action]) {
        if configuration.traces { actions.append(.log(.debug, text())) }
    }

    static let plainEPSV = Array("EPSV\r\n".utf8)
    static let plainPASV = Array("PASV\r\n".utf8)
    /// Verbs the filter handles itself: never forwarded in pieces.
    static let interceptedVerbs: Set<String> = ["AUTH", "PORT", "EPRT", "LPRT", "LPSV", "PASV", "EPSV"]
    /// Replies to EPSV that mean "not supported here": fall back to PASV (RFC 2428 §3 uses 522).
    static let epsvRejectionCodes: Set<Int> = [
        ReplyCode.syntaxError, ReplyCode.parameterSyntaxError, ReplyCode.notImplemented, ReplyCode.networkProtocolNotSupported,
    ]
    /// Active-mode data ports below this are refused (bounce protection, as most servers do).
    static let lowestActivePort = 1024
    static let unspecifiedIPv4 = "0.0.0.0"
    /// A passive reply longer than this is not a passive reply.
    static let maximumCollectedReplyBytes = 8 * 1024
    /// Longest server text quoted back to the client or the log.
    static let maximumQuotedLength = 200

    static func line(_ text: String) -> [UInt8] { Array(text.utf8) + [13, 10] }

    /// One printable line, short enough to quote.
    public static func sanitized(_ text: String) -> String {
        let printable = String(text.unicodeScalars.map { $0.value < 32 || $0.value == 127 ? " " : Character($0) })
        return printable.count > maximumQuotedLength ? String(printable.prefix(maximumQuotedLength)) + "…" : printable
    }

    /// The verb at the start of a (possibly partial) command line.
    /// A line the filter cannot read whole (over-long, or cut by the end of the stream) passes raw only when its
    /// verb is one the tunnel forwards untouched.
    static func mayPassUnread(_ bytes: [UInt8]) -> Bool {
        guard TunnelVerbPolicy.decide(bytes[...]) == .forward else { return false }
        return !(verb(of: bytes).map(interceptedVerbs.contains) ?? false)
    }

    static func verb(of bytes: [UInt8]) -> String? {
        let head = bytes.prefix(while: { $0 != UInt8(ascii: " ") && $0 != 13 && $0 != 10 }).prefix(16)
        return FTPCommandLine(line: Array(head))?.verb
    }

    /// `|3|addr|port|`: well-formed apart from a family other than 1 or 2 (answered 522, RFC 2428 §2).
    static func hasUnknownFamily(_ argument: Substring) -> Bool {
        guard let delimiter = argument.first else { return false }
        let fields = argument.split(separator: delimiter, omittingEmptySubsequences: false)
        guard fields.count == 5, let family = Int(fields[1]) else { return false }
        return family != 1 && family != 2
    }
}
