import Foundation
import Posix
import Logging
import Shared

/// One control connection from greeting to close: login state, current directory, pending passive
/// listener. Owned by one thread; handlers for each command group live in extensions.
final class Session: @unchecked Sendable {
    /// Failed logins before the session is closed with 421.
    static let maximumLoginFailures = 3
    /// Commands accepted before login.
    static let preLoginCommands: Set<String> = ["USER", "PASS", "QUIT", "NOOP", "SYST", "FEAT", "HELP", "OPTS", "AUTH"]
    /// MLST/MLSD facts offered (all selected by default).
    static let machineFacts = ["type", "size", "modify", "perm"]

    let id: Int
    let context: ServerContext
    let control: ControlChannel
    /// Address the control connection arrived on: passive listeners bind here.
    let localHost: String
    /// The client's address: data connections from anywhere else are refused.
    let peerHost: String?
    var logger: Logger

    var configuration: ServerConfiguration { context.configuration }

    // Login state
    var pendingUser: String?
    var account: Account?
    var root: ConfinedRoot?
    var loginFailures = 0

    // Command state
    var cwd = VirtualPath.root
    var restartOffset: Int64 = 0
    var renameSource: ConfinedEntry?
    var passive: PassiveListener?
    var passiveDeadline = Double.infinity
    var extendedPassiveOnly = false
    var selectedFacts = Set(Session.machineFacts)
    var shouldClose = false

    init(id: Int, context: ServerContext, control: ControlChannel, localHost: String, peerHost: String?,
         logger: Logger) {
        self.id = id
        self.context = context
        self.control = control
        self.localHost = localHost
        self.peerHost = peerHost
        var logger = logger
        logger[metadataKey: "session"] = "\(id)"
        logger[metadataKey: "peer"] = "\(peerHost ?? "stdin")"
        self.logger = logger
    }

    func run() {
        logger.notice("connected")
        reply(ReplyCode.serviceReady, "pasvd ready.")
        var idleDeadline = Monotonic.now() + configuration.idleTimeout
        while !shouldClose {
            switch control.next(until: min(idleDeadline, passiveDeadline), shutdownFD: context.shutdown.drainFD) {
            case .line(let bytes):
                handle(bytes)
                idleDeadline = Monotonic.now() + configuration.idleTimeout
            case .overlong(let length):
                logger.info("command line of \(length) bytes refused")
                reply(ReplyCode.syntaxError, "Command line too long (limit \(LineFramer.defaultMaximumLineLength) bytes).")
            case .timeout:
                if Monotonic.now() >= idleDeadline {
                    logger.notice("idle timeout")
                    reply(ReplyCode.serviceNotAvailable,
                          "Idle timeout (\(Int(configuration.idleTimeout)) s): closing control connection.")
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
        logger.notice("disconnected")
    }

    func reply(_ code: Int, _ text: String) { send(Reply(code, text)) }

    func send(_ reply: Reply) {
        if logger.logLevel <= .info {
            for line in reply.wire.split(separator: "\r\n") { logger.info("> \(line)") }
        }
        control.send(reply)
    }

    func closePassive() {
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
        guard let command = FTPCommandLine(line: bytes) else {
            logger.info("< (unparseable line of \(bytes.count) bytes)")
            reply(ReplyCode.syntaxError, "Syntax error, command unrecognized.")
            return
        }
        logger.info("< \(command.verb == "PASS" ? "PASS ****" : String(decoding: command.wireBytes.dropLast(2), as: UTF8.self))")
        let rename = renameSource
        renameSource = nil
        guard Session.knownCommands.contains(command.verb) else {
            reply(ReplyCode.syntaxError, "Unknown command \(command.verb).")
            return
        }
        guard account != nil || Session.preLoginCommands.contains(command.verb) else {
            reply(ReplyCode.notLoggedIn, "Please log in with USER and PASS.")
            return
        }
        dispatch(command.verb, Session.rawArgument(bytes) ?? command.argument, renameSource: rename)
    }

    /// The argument with its bytes kept: names that are not UTF-8 stay addressable (see `PathName`).
    static func rawArgument(_ line: [UInt8]) -> String? {
        guard let space = line.firstIndex(of: UInt8(ascii: " ")) else { return nil }
        return PathName.decode(line[(space + 1)...])
    }

    static let knownCommands: Set<String> = [
        "USER", "PASS", "QUIT", "NOOP", "SYST", "FEAT", "OPTS", "HELP", "STAT", "PWD", "XPWD", "CWD", "XCWD",
        "CDUP", "XCUP", "TYPE", "MODE", "STRU", "PASV", "EPSV", "PORT", "EPRT", "LIST", "NLST", "MLSD", "MLST",
        "SIZE", "MDTM", "RETR", "STOR", "STOU", "APPE", "REST", "ABOR", "DELE", "RNFR", "RNTO", "MKD", "XMKD",
        "RMD", "XRMD", "ALLO", "AUTH", "PBSZ", "PROT", "ACCT", "REIN", "SMNT", "SITE", "LPRT", "LPSV",
    ]

    private func dispatch(_ verb: String, _ argument: String, renameSource rename: ConfinedEntry?) {
        switch verb {
        case "USER": user(argument)
        case "PASS": pass(argument)
        case "QUIT": reply(ReplyCode.closingControl, "Goodbye."); shouldClose = true
        case "NOOP": reply(ReplyCode.commandOK, "NOOP ok.")
        case "SYST": reply(ReplyCode.systemType, "UNIX Type: L8")
        case "FEAT": feat()
        case "OPTS": opts(argument)
        case "HELP": help()
        case "STAT": stat(argument)
        case "TYPE": type(argument)
        case "MODE": mode(argument)
        case "STRU": structure(argument)
        case "ALLO": reply(ReplyCode.commandSuperfluous, "ALLO not needed.")
        case "PWD", "XPWD": printDirectory()
        case "CWD", "XCWD": changeDirectory(argument)
        case "CDUP", "XCUP": changeDirectory("..")
        case "MKD", "XMKD": makeDirectory(argument)
        case "RMD", "XRMD": removeDirectory(argument)
        case "DELE": delete(argument)
        case "RNFR": renameFrom(argument)
        case "RNTO": renameTo(argument, source: rename)
        case "SIZE": size(argument)
        case "MDTM": modificationTime(argument)
        case "PASV": enterPassive(extended: false, argument)
        case "EPSV": enterPassive(extended: true, argument)
        case "PORT", "EPRT", "LPRT":
            reply(ReplyCode.notImplemented, "Active mode refused: the server never connects out; use passive mode (PASV/EPSV).")
        case "REST": restart(argument)
        case "ABOR": reply(ReplyCode.dataConnectionOpen, "No transfer to abort.")
        case "RETR": retrieve(argument)
        case "STOR": store(argument, unique: false, append: false)
        case "APPE": store(argument, unique: false, append: true)
        case "STOU": store(argument, unique: true, append: false)
        case "LIST": list(argument, style: .long)
        case "NLST": list(argument, style: .names)
        case "MLSD": list(argument, style: .machine)
        case "MLST": machineListSingle(argument)
        case "AUTH", "PBSZ", "PROT":
            reply(ReplyCode.notImplemented, "TLS is not offered: the control connection runs inside the SSH tunnel.")
        default:
            reply(ReplyCode.notImplemented, "\(verb) not implemented.")
        }
    }
}
