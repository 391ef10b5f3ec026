/// Why one step of `ftptunnel check` failed. The texts complete "ftptunnel: …" or the diagnosis' "failed: …".
enum FTPProbeError: Error, CustomStringConvertible, Equatable {
    case notNumeric(String)
    case connectFailed(host: String, port: Int, reason: String)
    case timedOut(String)
    case connectionLost(String)
    /// The control connection closed before a complete reply arrived.
    case closedByServer(while: String)
    /// The server's greeting was not a 220.
    case notReady(banner: String)
    case loginFailed(user: String, reply: String)
    case noPassword(user: String)
    /// The passive reply cannot be used for a data connection from this side.
    case unusableEndpoint(String)
    case refused(command: String, reply: String)

    var description: String {
        switch self {
        case .notNumeric(let host):
            return "\(host) is not a numeric address"
        case .connectFailed(let host, let port, let reason):
            return "cannot connect to \(host):\(port): \(reason)"
        case .timedOut(let what):
            return "timed out \(what)"
        case .connectionLost(let what):
            return "connection lost \(what)"
        case .closedByServer(let what):
            return "the connection closed while \(what)"
        case .notReady(let banner):
            return "the FTP server is not ready: it greeted with \"\(banner)\""
        case .loginFailed(let user, let reply):
            return "the FTP server refused the login as \(user) (\"\(reply)\"); give an account with --ftp-user USER"
        case .noPassword(let user):
            return "FTP user \(user) needs a password and there is no terminal to ask on; set SSH_ASKPASS (and SSH_ASKPASS_REQUIRE=force) to a program that prints it"
        case .unusableEndpoint(let why):
            return why
        case .refused(let command, let reply):
            return "the server answered \(command) with \"\(reply)\""
        }
    }
}
