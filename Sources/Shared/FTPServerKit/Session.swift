import Foundation
import Posix
import Logging
import FTPCore

/// One control connection from greeting to close: login state, current directory, pending passive
/// listener. Owned by one thread; handlers for each command group live in extensions.
public final class Session: @unchecked Sendable {
    /// Failed logins before the session is closed with 421.
    static let maximumLoginFailures = 3
    /// MLST/MLSD facts offered (all selected by default).
    static let machineFacts = ["type", "size", "modify", "perm"]
    /// Extensions of the base command set (from the command table).
    static var features: [String] { CommandTable.features(offering: []) }
    /// Extensions advertised by FEAT: the base set plus this server's extra commands.
    var offeredFeatures: [String] { CommandTable.features(offering: settings.extraCommands) }

    let id: Int
    let settings: SessionSettings
    let authority: SessionAuthority
    let shutdown: ShutdownSignal
    let passivePorts: PassivePorts
    let control: ControlChannel
    /// Address the control connection arrived on: passive listeners bind here.
    let localHost: String
    /// The client's address: data connections from anywhere else are refused.
    let peerHost: String?
    var logger: Logger

    // Login state
    var pendingUser: String?
    var account: LoggedIn?
    var store: FileStore? { account?.store }
    var loginFailures = 0

    // Command state
    var cwd = VirtualPath.root
    var restartOffset: Int64 = 0
    /// RNFR's source, for the RNTO that must come next.
    var renameSource: AnyObject?
    /// The source RNFR left for this command (cleared before every command).
    var pendingRename: AnyObject?
    var passive: PassiveListener?
    /// PORT/EPRT's target for the next transfer (when `ExtraCommand.activeMode` is offered).
    var activeTarget: SocketAddress?
    /// Who PORT/EPRT may connect to: set at the first one, from the control connection's client.
    var activeTargetGuard: ActiveTargetGuard?
    var passiveDeadline = Double.infinity
    var extendedPassiveOnly = false
    var selectedFacts = Set(Session.machineFacts)
    /// Follows this session's transfers (set before `run`).
    public var transferObserver: TransferObserver?
    var shouldClose = false
    /// Set when the login handed the session to another process; `run` then returned without closing anything.
    public private(set) var handedOver: HandedOver?
    /// A session that logged in elsewhere and is resumed here: `run` starts with the login's 230.
    private var resumed: (login: LoggedIn, state: SessionResumeState)?
    /// The greeting was sent by the process that accepted the connection.
    private let greeted: Bool

    /// A session on the connection `input`/`output` (the same socket, or stdin/stdout under inetd).
    /// `mayHandOver`: the authority may answer `.handOver`, so the control connection is read line by line and
    /// nothing the client sent after its login is consumed here (see `ControlChannel.lineByLine`).
    public init(id: Int, settings: SessionSettings, authority: SessionAuthority, shutdown: ShutdownSignal,
                input: Int32, output: Int32, localHost: String, peerHost: String?, logger: Logger,
                mayHandOver: Bool = false, greeted: Bool = false) {
        self.id = id
        self.greeted = greeted
        self.settings = settings
        self.authority = authority
        self.shutdown = shutdown
        passivePorts = PassivePorts(range: settings.passivePorts)
        control = ControlChannel(input: input, output: output, lineByLine: mayHandOver)
        self.localHost = localHost
        self.peerHost = peerHost
        var logger = logger
        logger[metadataKey: "session"] = "\(id)"
        logger[metadataKey: "peer"] = "\(peerHost ?? "stdin")"
        self.logger = logger
    }

    /// A session that logged in in another process (`LoginOutcome.handOver`) on the connection `socket`: `run`
    /// answers the login with 230 and serves it from there.
    public convenience init(resuming login: LoggedIn, state: SessionResumeState, id: Int, settings: SessionSettings,
                            shutdown: ShutdownSignal, socket: Int32, localHost: String, peerHost: String?,
                            logger: Logger) {
        self.init(id: id, settings: settings, authority: ResumedSessionAuthority(), shutdown: shutdown,
                  input: socket, output: socket, localHost: localHost, peerHost: peerHost, logger: logger)
        resumed = (login, state)
    }

    /// Serves the session from greeting (or resumed login) to close, or to a hand-over.
    public func run() {
        if let (login, state) = resumed {
            selectedFacts = Set(state.selectedFacts).intersection(Session.machineFacts)
            loggedIn(login)
        } else {
            logger.notice("connected")
            if !greeted { reply(ReplyCode.serviceReady, Session.greeting(settings)) }
        }
        var idleDeadline = Monotonic.now() + settings.idleTimeout
        // Counted from the greeting; commands do not extend it (a NOOP loop cannot hold a pre-login slot).
        let loginDeadline = resumed == nil ? Monotonic.now() + settings.loginTimeout : .infinity
        while !shouldClose {
            if account == nil, Monotonic.now() >= loginDeadline {
                loginTimedOut()
                break
            }
            let watch = store?.idleWatch
            let wait = min(idleDeadline, passiveDeadline, account == nil ? loginDeadline : .infinity)
            switch control.next(until: min(wait, watch?.dueTime ?? .infinity), shutdownFD: shutdown.drainFD,
                                watchFD: watch?.descriptor) {
            case .watch:
                watch?.service()
            case .timeout where Monotonic.now() < wait:
                watch?.service()  // the watch's own time came, no deadline of the session's
            case .line(let bytes):
                handle(bytes)
                idleDeadline = Monotonic.now() + settings.idleTimeout
            case .overlong(let length):
                logger.info("command line of \(length) bytes refused")
                reply(ReplyCode.syntaxError, "Command line too long (limit \(LineFramer.defaultMaximumLineLength) bytes).")
            case .timeout:
                if account == nil, Monotonic.now() >= loginDeadline {
                    loginTimedOut()
                } else if Monotonic.now() >= idleDeadline {
                    logger.notice("idle timeout")
                    reply(ReplyCode.serviceNotAvailable,
                          "Idle timeout (\(Int(settings.idleTimeout)) s): closing control connection.")
                    shouldClose = true
                } else {
                    closePassive()  // nobody connected to the passive listener in time
                }
            case .shutdown:
                reply(ReplyCode.serviceNotAvailable, "Server shutting down.")
                shouldClose = true
            case .closed:
                shouldClose = true
            }
        }
        closePassive()
        if handedOver == nil { logger.notice("disconnected") }
    }

    /// The 220 text.
    public static func greeting(_ settings: SessionSettings) -> String { "\(settings.serverName) ready." }

    /// The login deadline passed before a successful login.
    private func loginTimedOut() {
        logger.notice("login timeout")
        reply(ReplyCode.serviceNotAvailable, "Login timeout (\(Int(settings.loginTimeout)) s): closing control connection.")
        shouldClose = true
    }

    /// The login decided that another process serves the session: stop here, reply nothing.
    func handOver(_ ticket: any Sendable) {
        handedOver = HandedOver(ticket: ticket, state: SessionResumeState(
            selectedFacts: Session.machineFacts.filter(selectedFacts.contains)))
        logger.info("login accepted, session handed over")
        shouldClose = true
    }

    func reply(_ code: Int, _ text: String) { send(Reply(code, text)) }

    func send(_ reply: Reply) {
        if logger.logLevel <= .info {
            for line in reply.wire.split(separator: "\r\n") { logger.info("> \(line)") }
        }
        control.send(reply)
    }

    func closePassive() {
        activeTarget = nil
        passive?.close()
        passive = nil
        passiveDeadline = .infinity
    }

    private func handle(_ bytes: [UInt8]) {
        if FTPCommandLine.isHTTPRequestLine(bytes) {
            logger.warning("HTTP request on the control connection, closing")
            shouldClose = true
            return
        }
        guard let line = FTPCommandLine(line: bytes) else {
            logger.info("< (unparseable line of \(bytes.count) bytes)")
            reply(ReplyCode.syntaxError, "Syntax error, command unrecognized.")
            return
        }
        logger.info("< \(line.verb == "PASS" ? "PASS ****" : String(decoding: line.wireBytes.dropLast(2), as: UTF8.self))")
        pendingRename = renameSource
        renameSource = nil
        guard let command = CommandTable.byVerb[line.verb] else {
            reply(ReplyCode.syntaxError, "Unknown command \(line.verb).")
            return
        }
        guard account != nil || !command.needsLogin else {
            reply(ReplyCode.notLoggedIn, "Please log in with USER and PASS.")
            return
        }
        command.handle(self, Session.rawArgument(bytes) ?? line.argument)
    }

    /// The argument with its bytes kept: names that are not UTF-8 stay addressable (see `PathName`).
    static func rawArgument(_ line: [UInt8]) -> String? {
        guard let space = line.firstIndex(of: UInt8(ascii: " ")) else { return nil }
        return PathName.decode(line[(space + 1)...])
    }
}
