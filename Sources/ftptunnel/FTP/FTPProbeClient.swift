import Logging
import FTPCore
import TunnelCore

/// A small blocking FTP client for `ftptunnel check`: one control connection through the tunnel, every reply
/// awaited with a deadline, LIST over a passive endpoint. It sends only what the check needs.
final class FTPProbeClient {
    /// Seconds to wait for one reply, a data connection, or a whole LIST.
    struct Timeouts {
        var reply: Double = 20
        var connect: Double = 15
        var list: Double = 30
        /// QUIT at the end: the answer does not matter, so do not wait long for it.
        var quit: Double = 3
    }

    /// Listing bytes kept for the log (the rest is only counted).
    static let keptListingBytes = 4096
    static let anonymousUsers: Set<String> = ["anonymous", "ftp"]
    /// Sent as the password of anonymous logins (RFC 1635 asks for an e-mail-like string).
    static let anonymousPassword = "ftptunnel@"

    let host: String
    let port: Int
    private let socket: ProbeSocket
    private let timeouts: Timeouts
    private let logger: Logger
    private var framer = LineFramer()
    private var parser = ReplyParser()
    private var replies: [FTPReply] = []

    init(host: String, port: Int, timeouts: Timeouts = Timeouts(), logger: Logger) throws {
        self.host = host
        self.port = port
        self.timeouts = timeouts
        self.logger = logger
        socket = try ProbeSocket(host: host, port: port, timeout: timeouts.connect)
    }

    /// The greeting: waits past `120` (ready in a few minutes) for the final reply; throws unless it is 2xx.
    func readBanner() throws -> FTPReply {
        var reply = try readReply(while: "waiting for the server's greeting")
        while reply.isPreliminary { reply = try readReply(while: "waiting for the server's greeting") }
        guard reply.code / 100 == 2 else { throw FTPProbeError.notReady(banner: reply.lines.first ?? "") }
        return reply
    }

    /// Sends one command line and returns the first reply to it (which may be preliminary).
    func command(_ line: String) throws -> FTPReply {
        try command(line, timeout: timeouts.reply)
    }

    private func command(_ line: String, timeout: Double) throws -> FTPReply {
        let shown = line.uppercased().hasPrefix("PASS ") ? "PASS ****" : line
        logger.debug("check → \(shown)")
        try socket.send(Array((line + "\r\n").utf8), timeout: timeout)
        return try readReply(while: "waiting for the reply to \(shown.split(separator: " ").first ?? "")", timeout: timeout)
    }

    /// USER, then PASS when asked (anonymous gets a fixed e-mail-like string, others `password()`).
    func logIn(user: String, password: () throws -> String?) throws {
        let first = try command("USER \(user)")
        if first.code == ReplyCode.loggedIn { return }
        guard first.code == ReplyCode.needPassword else {
            throw FTPProbeError.loginFailed(user: user, reply: first.lines.first ?? "")
        }
        let secret: String
        if Self.anonymousUsers.contains(user.lowercased()) {
            secret = Self.anonymousPassword
        } else {
            guard let given = try password() else { throw FTPProbeError.noPassword(user: user) }
            secret = given
        }
        let second = try command("PASS \(secret)")
        guard second.code == ReplyCode.loggedIn || second.code == ReplyCode.commandSuperfluous else {
            throw FTPProbeError.loginFailed(user: user, reply: second.lines.first ?? "")
        }
    }

    /// LIST over the endpoint a 227/229 reply names. EPSV replies carry no address: the data connection goes to
    /// the control connection's host. Connects only to `allowedHost` (the tunnel's own listen address): a probe never
    /// follows a server's address elsewhere. `allowedPorts`, when set, must contain the port (fixed mode).
    func list(over reply: FTPReply, allowedPorts: PortRange? = nil) -> ServerDiagnosis.ListResult {
        do {
            let bytes = try listBytes(over: reply, allowedPorts: allowedPorts)
            logger.info("check: LIST over \(reply.code) worked (\(bytes) bytes)")
            return .worked
        } catch {
            logger.info("check: LIST over \(reply.code) failed: \(error)")
            return .failed("\(error)")
        }
    }

    private func listBytes(over reply: FTPReply, allowedPorts: PortRange?) throws -> Int {
        guard reply.code == ReplyCode.enteringPassive || reply.code == ReplyCode.enteringExtendedPassive,
              let endpoint = PassiveReplyParser.endpoint(of: reply) else {
            throw FTPProbeError.unusableEndpoint("no passive endpoint in the reply")
        }
        let dataHost = endpoint.host ?? host
        guard dataHost == host else {
            throw FTPProbeError.unusableEndpoint("the reply points to \(dataHost):\(endpoint.port), not to the tunnel's \(host)")
        }
        if let allowedPorts, !allowedPorts.contains(endpoint.port) {
            throw FTPProbeError.unusableEndpoint("port \(endpoint.port) is outside PassivePorts \(allowedPorts)")
        }
        let data = try ProbeSocket(host: dataHost, port: endpoint.port, timeout: timeouts.connect)
        let started = try command("LIST")
        guard started.code < 400 else { throw FTPProbeError.refused(command: "LIST", reply: started.lines.first ?? "") }
        let (kept, total) = try data.readToEnd(timeout: timeouts.list, limit: Self.keptListingBytes, what: "reading the listing")
        logger.debug("check: listing starts \(String(decoding: kept.prefix(256), as: UTF8.self).debugDescription)")
        if started.isPreliminary {
            let final = try readReply(while: "waiting for the end of LIST")
            guard final.code / 100 == 2 else { throw FTPProbeError.refused(command: "LIST", reply: final.lines.first ?? "") }
        }
        return total
    }

    /// Says goodbye; errors are irrelevant at this point.
    func quit() {
        _ = try? command("QUIT", timeout: timeouts.quit)
    }

    private func readReply(while what: String, timeout: Double? = nil) throws -> FTPReply {
        let deadline = ProbeDeadline(seconds: timeout ?? timeouts.reply)
        while replies.isEmpty {
            let bytes = try socket.receive(until: deadline, what: what)
            if bytes.isEmpty { throw FTPProbeError.closedByServer(while: what) }
            for event in framer.feed(bytes) {
                guard case .line(let line) = event, let reply = parser.feed(line: line) else { continue }
                logger.debug("check ← \(reply.lines.first ?? "")\(reply.lines.count > 1 ? " (+\(reply.lines.count - 1) lines)" : "")")
                replies.append(reply)
            }
        }
        return replies.removeFirst()
    }
}
