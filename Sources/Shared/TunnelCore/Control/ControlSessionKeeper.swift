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
/// Commands and replies arrive framed by the connection's `ControlConversation` (the filter's output, the server's
/// reply lines); the unfinished reply line, if any, is the conversation's, completed by `sessionLost`.
///
/// Pure: no I/O. The filter never notices the reconnect except through the replies it is fed.
public struct ControlSessionKeeper: Sendable {
    public typealias Unit = ControlConversation.Unit

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
        /// Reply lines (real or synthesized) for the filter.
        public var toFilter: [Unit] = []
        /// Bytes for the server.
        public var toServer: [UInt8] = []
        /// Set once when the session cannot be rebuilt: the reason, for the 421 and the log.
        public var failure: String?
        /// Set once when the session was rebuilt (for the log).
        public var resumed = false
    }

    public private(set) var phase: Phase = .live
    public private(set) var memory = ControlSessionMemory()
    /// A multi-line reply is open (its first line passed, its last not yet).
    private var insideReply = false
    /// The filter sent the unterminated end of the client's stream: a line the server never sees whole.
    private var sentUnterminatedLine = false
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
    private var heldForServer: [Unit] = []
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

    /// Live with no command awaiting its reply, no multi-line reply open and no unterminated line sent: a planned
    /// move to a new server connection now would go unnoticed, provided the conversation holds no unfinished reply
    /// line either (`ControlConversation.isBetweenReplies`).
    public var isQuiet: Bool {
        phase == .live && inFlight.isEmpty && heldForServer.isEmpty && !sentUnterminatedLine && !insideReply
    }

    // MARK: Live traffic

    /// Command lines the filter sends to the server: what may go out now (nothing while the session is being
    /// rebuilt).
    public mutating func sentToServer(_ units: [Unit]) -> [Unit] {
        guard phase == .live else {
            heldForServer += units
            return []
        }
        record(units)
        return units
    }

    /// Reply lines from the server.
    public mutating func fromServer(_ units: [Unit]) -> Output {
        var output = Output()
        if phase == .live {
            output.toFilter = units
            for unit in units { countReply(unit) }
            return output
        }
        for unit in units {
            switch phase {
            case .live:
                // Went live earlier in this read: the rest is ordinary traffic.
                output.toFilter.append(unit)
                countReply(unit)
            case .resending:
                // The reply to a resent command: the filter is waiting for it.
                output.toFilter.append(unit)
                noteReplyBoundary(unit)
                if let code = unit.finalReplyCode { resendAnswered(code: code, unit.content, &output) }
            case .awaitingGreeting, .replaying:
                guard let code = unit.finalReplyCode else { continue }
                replyText = String(decoding: unit.content, as: UTF8.self)
                advanceReplay(code: code, &output)
            case .suspended, .failed:
                continue
            }
        }
        return output
    }

    /// Follows whether a multi-line reply is open.
    private mutating func noteReplyBoundary(_ unit: Unit) {
        switch unit.role {
        case .first?: insideReply = true
        case .last?: insideReply = false
        default: break
        }
    }

    // MARK: Losing and regaining the server

    /// What closes a multi-line reply cut short by a lost session.
    public static let cutShortText = "(reply cut short: the SSH session was lost)"

    /// The SSH session (and with it the server connection) is gone. A reply cut short is completed for the filter;
    /// `conversation` (the connection's) starts its reply side afresh for the next server connection.
    public mutating func sessionLost(replies conversation: inout ControlConversation) -> Output {
        var output = Output()
        guard phase != .failed else { return output }
        // The client may have seen part of a reply: end it, so neither the filter nor the client is left inside
        // it (a cut line is completed, an open multi-line reply closed), and count it as the answer.
        let completion = conversation.cutReplies(closing: Self.cutShortText)
        if phase == .live {
            for unit in completion {
                output.toFilter.append(unit)
                countReply(unit)
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
        sentUnterminatedLine = false
        insideReply = false
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
                output.toFilter.append(.reply(Array(replyText.utf8)))
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
    private mutating func answerUnresendableHead(_ toFilter: inout [Unit]) {
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
            toFilter.append(.reply(Array(reply.utf8)))
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
        if !held.isEmpty { output.toServer += sentToServer(held).flatMap(\.raw) }
    }

    private mutating func fail(_ reason: String, _ output: inout Output) {
        phase = .failed
        output.failure = reason
    }

    // MARK: Pairing

    private mutating func record(_ units: [Unit]) {
        for unit in units {
            switch unit.piece {
            case .line:
                inFlight.append(unit.command.map(SentLine.command) ?? .unrecognised)
            case .overlongStart:
                inFlight.append(.unrecognised)
            case .overlongRest:
                break
            case .unterminated:
                sentUnterminatedLine = true
            }
        }
    }

    private mutating func countReply(_ unit: Unit) {
        noteReplyBoundary(unit)
        guard let code = unit.finalReplyCode else { return }
        if greetingOwed {
            greetingOwed = false
            return
        }
        guard !inFlight.isEmpty else { return }
        observe(inFlight.removeFirst(), code: code, unit.content)
    }
}
