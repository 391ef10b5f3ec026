import Foundation
import Shared

/// The validated server settings. Every check names the option and says how to fix it.
struct ServerConfiguration: Sendable {
    static let defaultListen = "127.0.0.1"
    static let defaultPort = 21
    static let defaultPassivePorts = "40000-40009"
    static let defaultPassiveAddress = "127.0.0.1"
    static let defaultMaxSessions = 50
    static let defaultIdleTimeout = 300.0
    static let defaultDataTimeout = 60.0
    static let defaultLoginFailureDelay = 1.0
    static let defaultShutdownGrace = 10.0

    let root: String
    let listen: String
    let port: Int
    let passivePorts: PortRange
    let passiveAddress: String
    let usersFile: String?
    let anonymous: Bool
    let writable: Bool
    let maxSessions: Int
    let idleTimeout: Double
    let dataTimeout: Double
    let inetd: Bool
    let loginFailureDelay: Double
    let shutdownGrace: Double

    init(root: String, listen: String, port: Int, passivePorts: String, passiveAddress: String,
         usersFile: String?, anonymous: Bool, writable: Bool, maxSessions: Int, idleTimeout: Double,
         dataTimeout: Double, inetd: Bool, allowRemote: Bool, loginFailureDelay: Double,
         shutdownGrace: Double) throws(ConfigurationError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .rootMissing(root)
        }
        let host = listen == "localhost" ? "127.0.0.1" : listen
        guard Socket.address(host, port: 0) != nil else { throw .badAddress(option: "--listen", value: listen) }
        guard Socket.isLoopback(host) || allowRemote else { throw .remoteListen(listen) }
        guard (1...65535).contains(port) else { throw .badPort(port) }
        guard let range = PortRange(passivePorts) else { throw .badPassivePorts(passivePorts) }
        guard Socket.address(passiveAddress, port: 0) != nil else {
            throw .badAddress(option: "--pasv-address", value: passiveAddress)
        }
        guard usersFile != nil || anonymous else { throw .noLogin }
        guard !writable || anonymous else { throw .writableWithoutAnonymous }
        if let usersFile {
            do { _ = try UsersFile.load(usersFile) } catch { throw .usersFile(error) }
        }
        guard maxSessions >= 1 else { throw .notPositive(option: "--max-sessions") }
        guard idleTimeout > 0 else { throw .notPositive(option: "--idle-timeout") }
        guard dataTimeout > 0 else { throw .notPositive(option: "--data-timeout") }
        guard loginFailureDelay >= 0, shutdownGrace >= 0 else { throw .notPositive(option: "--login-failure-delay") }
        self.root = root
        self.listen = host
        self.port = port
        self.passivePorts = range
        self.passiveAddress = passiveAddress
        self.usersFile = usersFile
        self.anonymous = anonymous
        self.writable = writable
        self.maxSessions = maxSessions
        self.idleTimeout = idleTimeout
        self.dataTimeout = dataTimeout
        self.inetd = inetd
        self.loginFailureDelay = loginFailureDelay
        self.shutdownGrace = shutdownGrace
    }
}

enum ConfigurationError: Error, CustomStringConvertible {
    case rootMissing(String)
    case badAddress(option: String, value: String)
    case remoteListen(String)
    case badPort(Int)
    case badPassivePorts(String)
    case noLogin
    case writableWithoutAnonymous
    case usersFile(UsersFileError)
    case notPositive(option: String)

    var description: String {
        switch self {
        case .rootMissing(let root):
            return "--root \(root) is not an existing directory; create it or pass another one"
        case .badAddress(let option, let value):
            return "\(option) \(value) is not an IPv4 address; use a dotted address such as 127.0.0.1"
        case .remoteListen(let value):
            return "refusing --listen \(value): it is not a loopback address and pasvd is meant to sit behind sshd; "
                + "pass --allow-remote if you really want it reachable from the network"
        case .badPort(let port):
            return "--port \(port) is out of range; use 1-65535"
        case .badPassivePorts(let value):
            return "--pasv-ports \(value) is not a port range; write LO-HI such as 40000-40009"
        case .noLogin:
            return "nobody could log in; pass --users FILE (see `pasvd passwd`) or --anonymous"
        case .writableWithoutAnonymous:
            return "--writable applies to anonymous sessions only; add --anonymous or drop --writable"
        case .usersFile(let error):
            return error.description
        case .notPositive(let option):
            return "\(option) must be a positive number"
        }
    }
}
