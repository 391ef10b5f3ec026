import FTPCore

/// Keeps one rewrite-mode control session alive across a lost SSH session: it sits between the control-stream
/// filter and the server, pairs every command the filter sends with the server's final reply (remembering what
/// established the session in `ControlSessionMemory`), and after a reconnect rebuilds the session on a new server
/// connection — greeting and replayed commands swallowed — before the filter's traffic flows again.
///
/// Commands that were in flight when the session dropped are answered in their order: resent when repeating them
/// is harmless and needs no data connection (`resendableVerbs`), `426` for transfers and listings (their data
/// connection is gone: clients retry or resume with REST), `451` for anything else (never repeat a command that
/// changes files). A failed replay ends the session with `failure` (the client is told 421).
///
/// State one command leaves for a later one survives the reconnect or is refused, never silently reset (a STOR
/// after a forgotten REST 50 would rewrite the file from offset 0). Per command:
/// - USER/PASS/ACCT, CWD/CDUP, TYPE, MODE, STRU, OPTS UTF8: replayed (`ControlSessionMemory`).
/// - REST: an offset the server accepted (350) and no transfer has used yet is replayed after the directory.
///   Replayed REST refused → the session fails (421): the transfer it was meant for must not start at 0.
/// - RNFR: a source accepted (350) with no command after it yet is replayed last, so the RNTO that follows
///   renames the same file. Replayed RNFR refused (the source is gone) → it is dropped and the server refuses
///   the RNTO itself (503 "RNFR first"): refused, never a wrong rename.
/// - A command lost with the session is presumed to have used the state up on the old server (a STOR in flight
///   ends the REST before it, whatever the keeper answers for it), so it is not replayed for a later command.
/// - A REST or RNFR that was itself in flight is resent only when nothing was sent after it (else it gets 451
///   "send it again"): resent with its consumer answered 426/451, it would stay set on the new server for the
///   client's next, unrelated command.
/// - PASV/EPSV and active-mode conversions: not replayed. The passive port belonged to the lost server
///   connection and the rewrite listeners announced for it are released, so the next transfer gets the server's
///   own 425 ("PASV first") and the client asks for a new port; a PASV/EPSV in flight is resent and its reply
///   rewritten as usual.
/// - Anything else (SITE, …): not known to set state, not replayed.
///
/// Pure: no I/O. The filter never notices the reconnect except through the replies it is fed.
public struct ControlSessionKeeper: Sendable {
    public enum Phase: Equatable, Sendable {
        /// Traffic flows; commands and replies are paired.
        case live
        /// The SSH session is gone; waiting for a new server connection.
        case suspended
        /// A new server connection is open; waiting for its greeting.
        case awaitingGreeting
        /// Replaying the session's commands one by one.
        case replaying
        /// Resending (or answering) the commands that were in flight.
        case resending
        /// The session could not be rebuilt.
        case failed
    }

    /// What one input produces.
    public struct Output: Equatable, Sendable {
        /// Server bytes (real or synthesized replies) for the filter.
        public var toFilter: [UInt8] = []
        /// Bytes for the server.
        public var toServer: [UInt8] = []
        /// Set once when the session cannot be rebuilt: the reason, for the 421 and the log.
        public var failure: String?
        /// Set once when the session was rebuilt (for the log).
        public var resumed = false
    }

    public private(set) var phase: Phase = .live
    public private(set) var memory = ControlSessionMemory()
    private var commandSplitter = RawLineSplitter()
    private var replySplitter = RawLineSplitter()
    private var replyParser = ReplyParser()
    /// The filter still waits for the server's greeting.
    private var greetingOwed = true
    /// A line the client sent, which the server answers: a command, or a line that does not parse as one (no verb
    /// of 3-4 letters, or too long), which is never resent.
    private enum SentLine: Sendable {
        case command(FTPCommandLine)
        case unrecognised
    }

    /// Commands sent and not answered yet, oldest first.
    private var inFlight: [SentLine] = []
    /// Replay: the commands still to send, and the one whose reply is awaited.
    private var replayQueue: [FTPCommandLine] = []
    private var replaying: FTPCommandLine?
    /// The commands that were in flight when the session dropped, still to resend or answer.
    private var lostCommands: [SentLine] = []
    /// Filter output for the server held while the session is not live.
    private var heldForServer: [UInt8] = []
    /// The reply text of the command the last reply answered (for the replay's checks).
    private var replyText = ""

    /// Repeating these changes nothing and needs no data connection (PASV/EPSV merely open a new passive port).
    public static let resendableVerbs: Set<String> = [
        "NOOP", "PWD", "XPWD", "SIZE", "MDTM", "STAT", "SYST", "FEAT", "HELP", "PASV", "EPSV", "TYPE", "MODE", "STRU",
        "OPTS", "REST", "RNFR", "CWD", "XCWD", "CDUP", "XCUP", "USER", "PASS", "ACCT", "ABOR", "QUIT", "MLST", "ALLO",
    ]
    /// They only set state for a later command: resent only when nothing was sent after them.
    public static let stateSettingVerbs: Set<String> = ["REST", "RNFR"]
    /// Their data connection is gone with the SSH session.
    public static let transferVerbs: Set<String> = ["RETR", "STOR", "STOU", "APPE", "LIST", "NLST", "MLSD"]

    public init() {}

    /// True while the filter's client input should wait (anything but `live`).
    public var isLive: Bool { phase == .live }

    /// Live with no command awaiting its reply and no partial line either way: a planned move to a new server
    /// connection now would go unnoticed.
    public var isQuiet: Bool {
        phase == .live && inFlight.isEmpty && heldForServer.isEmpty && commandSplitter.pendingBytes.isEmpty
            && replySplitter.pendingBytes.isEmpty && replyParser.openReplyCode == nil
    }

    // MARK: Live traffic

    /// Bytes the filter sends to the server: what may go out now (nothing while the session is being rebuilt).
    public mutating func sentToServer(_ bytes: [UInt8]) -> [UInt8] {
        guard phase == .live else {
            heldForServer += bytes
            return []
        }
        record(bytes)
        return bytes
    }

    /// Bytes from the server.
    public mutating func fromServer<C: Collection>(_ bytes: C) -> Output where C.Element == UInt8 {
        var output = Output()
        if phase == .live {
            output.toFilter = Array(bytes)
            for event in replySplitter.feed(bytes) { countReply(Self.content(of: event)) }
            return output
        }
        for event in replySplitter.feed(bytes) {
            let content = Self.content(of: event)
            switch phase {
            case .live:
                // Went live earlier in this read: the rest is ordinary traffic.
                output.toFilter += Self.bytes(of: event)
                countReply(content)
            case .resending:
                // The reply to a resent command: the filter is waiting for it.
                output.toFilter += Self.bytes(of: event)
                if let code = finalCode(content) { resendAnswered(code: code, content, &output) }
            case .awaitingGreeting, .replaying:
                guard let code = finalCode(content) else { continue }
                replyText = String(decoding: content, as: UTF8.self)
                advanceReplay(code: code, &output)
            case .suspended, .failed:
                continue
            }
        }
        return output
    }

    private static func content(of event: RawLineSplitter.Event) -> ArraySlice<UInt8> {
        switch event {
        case .line(let raw): return RawLineSplitter.content(of: raw)
        case .overlongStart(let raw): return raw[...]
        case .overlongRest: return []
        }
    }

    private static func bytes(of event: RawLineSplitter.Event) -> [UInt8] {
        switch event {
        case .line(let raw), .overlongStart(let raw), .overlongRest(let raw, _): return raw
        }
    }

    // MARK: Losing and regaining the server

    /// The SSH session (and with it the server connection) is gone. A reply cut short is completed for the filter.
    public mutating func sessionLost() -> Output {
        var output = Output()
        guard phase != .failed else { return output }
        if phase == .live {
            // The client may have seen part of a reply: end it, so neither the filter nor the client is left
            // inside it (a cut line is completed, an open multi-line reply closed), and count it as the answer.
            let pending = replySplitter.takePending()
            if !pending.isEmpty {
                output.toFilter += [13, 10]
                countReply(pending[...])
            }
            if let code = replyParser.openReplyCode {
                let ending = Array("\(code) (reply cut short: the SSH session was lost)".utf8)
                output.toFilter += ending + [13, 10]
                countReply(ending[...])
            }
            lostCommands = inFlight
            inFlight = []
            for line in lostCommands { presumeConsumed(by: line) }
            // Commands at the head that will not be resent are answered now (a transfer's client learns at once
            // that it failed); the rest wait for the new connection, to keep the replies in order.
            answerUnresendableHead(&output.toFilter)
        } else if phase != .suspended {
            // Lost again while rebuilding: start over with the same memory and the same commands to answer.
            inFlight = []
        }
        replySplitter = RawLineSplitter()
        replyParser = ReplyParser()
        commandSplitter = RawLineSplitter()
        replaying = nil
        phase = .suspended
        return output
    }

    /// A new server connection is open: its greeting comes next.
    public mutating func serverReconnected() {
        guard phase == .suspended else { return }
        phase = .awaitingGreeting
    }

    // MARK: Replay

    private mutating func advanceReplay(code: Int, _ output: inout Output) {
        switch phase {
        case .awaitingGreeting:
            if greetingOwed {
                // The filter never saw a greeting: this one is for it (a refusal too: the client handles it).
                greetingOwed = false
                output.toFilter += Self.line(Array(replyText.utf8)[...])
                guard (200..<300).contains(code) else { return goLive(&output) }
            }
            guard (200..<300).contains(code) else { return fail("the FTP server refused the new connection: \(replyText)", &output) }
            if memory.directoryLost { return fail("the working directory cannot be rebuilt (more than \(ControlSessionMemory.maximumDirectorySteps) relative CWD since the last PWD)", &output) }
            phase = .replaying
            replayQueue = memory.replay
            sendNextReplay(&output)
        case .replaying:
            guard let command = replaying else { return }
            let needsMore = command.verb == "USER" && code == ReplyCode.needPassword
                || (command.verb == "USER" || command.verb == "PASS") && code == 332
            let pending = Self.stateSettingVerbs.contains(command.verb) && code == ReplyCode.pendingFurtherInformation
            if command.verb == "RNFR", !pending {
                // The source is gone: without it the server refuses the RNTO (503); never a wrong rename.
                memory.forgetRenameSource()
                return sendNextReplay(&output)
            }
            guard (200..<300).contains(code) || needsMore || pending || (command.verb == "USER" && code == 331) else {
                let shown = command.verb == "PASS" ? "PASS" : "\(command.verb) \(command.argument)"
                return fail("replaying \(shown) on the new server connection failed: \(replyText)", &output)
            }
            if command.verb == "USER", (200..<300).contains(code) {
                // Logged in without a password this time: skip PASS/ACCT.
                replayQueue.removeAll { $0.verb == "PASS" || $0.verb == "ACCT" }
            }
            sendNextReplay(&output)
        default:
            return
        }
    }

    private mutating func sendNextReplay(_ output: inout Output) {
        guard !replayQueue.isEmpty else {
            replaying = nil
            output.resumed = true
            phase = .resending
            resendNext(&output)
            return
        }
        let next = replayQueue.removeFirst()
        replaying = next
        output.toServer += next.wireBytes
    }

    // MARK: Commands that were in flight

    private mutating func resendNext(_ output: inout Output) {
        answerUnresendableHead(&output.toFilter)
        if case .command(let command) = lostCommands.first {
            inFlight = [.command(command)]
            output.toServer += command.wireBytes
            return
        }
        inFlight = []
        goLive(&output)
    }

    /// Answers the lost commands at the head of the queue that must not be repeated: 426 for transfers, 451 for
    /// anything that may have changed files.
    private mutating func answerUnresendableHead(_ toFilter: inout [UInt8]) {
        while let line = lostCommands.first, !isResendable(line, followed: lostCommands.count > 1) {
            lostCommands.removeFirst()
            presumeConsumed(by: line)
            let reply: String
            switch line {
            case .command(let command) where Self.transferVerbs.contains(command.verb):
                reply = "\(ReplyCode.transferAborted) Connection lost: the SSH session dropped during \(command.verb); retry, or resume with REST (the tunnel reconnects by itself)."
            case .command(let command) where Self.stateSettingVerbs.contains(command.verb):
                reply = "\(ReplyCode.localError) The SSH session dropped before \(command.verb) took effect, with the next command already sent: send \(command.verb) again (the tunnel reconnects by itself)."
            case .command(let command):
                reply = Self.outcomeUnknown(command.verb)
            case .unrecognised:
                reply = Self.outcomeUnknown("an unrecognised command")
            }
            toFilter += Array(reply.utf8) + [13, 10]
        }
    }

    private static func outcomeUnknown(_ what: String) -> String {
        "\(ReplyCode.localError) The SSH session dropped while \(what) was in progress: whether it took effect is unknown; check and retry (the tunnel reconnects by itself)."
    }

    /// Repeating `command` on the new connection is harmless; a REST/RNFR only when no command was sent after it.
    private func isResendable(_ line: SentLine, followed: Bool) -> Bool {
        guard case .command(let command) = line else { return false }
        return Self.resendableVerbs.contains(command.verb) && !(followed && Self.stateSettingVerbs.contains(command.verb))
    }

    private mutating func resendAnswered(code: Int, _ content: ArraySlice<UInt8>, _ output: inout Output) {
        guard let line = lostCommands.first else { return }
        lostCommands.removeFirst()
        observe(line, code: code, content)
        resendNext(&output)
    }

    /// What a line the server answered (or may have) did to the session's state; any line but RNFR ends a
    /// pending rename.
    private mutating func presumeConsumed(by line: SentLine) {
        switch line {
        case .command(let command): memory.presumeConsumed(by: command)
        case .unrecognised: memory.forgetRenameSource()
        }
    }

    private mutating func observe(_ line: SentLine, code: Int, _ content: ArraySlice<UInt8>) {
        switch line {
        case .command(let command): memory.observe(command, code: code, text: String(decoding: content, as: UTF8.self))
        case .unrecognised: memory.forgetRenameSource()
        }
    }

    private mutating func goLive(_ output: inout Output) {
        phase = .live
        let held = heldForServer
        heldForServer = []
        if !held.isEmpty { output.toServer += sentToServer(held) }
    }

    private mutating func fail(_ reason: String, _ output: inout Output) {
        phase = .failed
        output.failure = reason
    }

    // MARK: Pairing

    private mutating func record(_ bytes: [UInt8]) {
        for event in commandSplitter.feed(bytes) {
            switch event {
            case .line(let raw):
                inFlight.append(FTPCommandLine(line: Array(RawLineSplitter.content(of: raw))).map(SentLine.command) ?? .unrecognised)
            case .overlongStart:
                inFlight.append(.unrecognised)
            case .overlongRest:
                break
            }
        }
    }

    private mutating func countReply(_ content: ArraySlice<UInt8>) {
        guard let code = finalCode(content) else { return }
        if greetingOwed {
            greetingOwed = false
            return
        }
        guard !inFlight.isEmpty else { return }
        observe(inFlight.removeFirst(), code: code, content)
    }

    /// The code when `content` ends a reply with a final (≥ 200) code.
    private mutating func finalCode(_ content: ArraySlice<UInt8>) -> Int? {
        switch replyParser.classify(content) {
        case .single(let code), .last(let code): return code >= 200 ? code : nil
        case .first, .continuation, .stray: return nil
        }
    }

    static func line(_ content: ArraySlice<UInt8>) -> [UInt8] { Array(content) + [13, 10] }
}
