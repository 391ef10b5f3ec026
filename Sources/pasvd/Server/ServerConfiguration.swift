import FTPServerKit
import Foundation
import PasvdHandOff
import Posix
import FTPCore

/// The validated server settings. Every check names the option and says how to fix it.
struct ServerConfiguration: Sendable {
    static let defaultListen = "127.0.0.1"
    static let defaultPort = 21
    static let defaultPassivePorts = "40000-40009"
    static let defaultPassiveAddress = "127.0.0.1"
    static let defaultMaxSessions = 50
    /// Connections that have not logged in yet (each that sent a command holds a login worker, about 2.6 MiB PSS).
    static let defaultMaxPrelogin = 64
    /// Seconds from the greeting to a successful login.
    static let defaultLoginTimeout = 60.0
    /// The listener ends a login worker that outlives its login deadline by this much (the worker itself closes
    /// the connection at the deadline; this is for one that does not).
    static let loginWorkerGraceSeconds = 10.0
    static let defaultIdleTimeout = 300.0
    static let defaultDataTimeout = 60.0
    static let defaultLoginFailureDelay = 1.0
    static let defaultShutdownGrace = 10.0
    static let defaultSessionsPerProcess = 32
    /// Seconds an account worker without sessions is kept for the next login of its account.
    static let defaultWorkerIdleExit = 5.0
    /// Anonymous sessions run as the first of these accounts that exists (when pasvd starts as root).
    static let defaultAnonymousAccounts = ["ftp", "nobody"]
    /// Login workers run as this account when it exists (when pasvd starts as root), else as the anonymous one.
    static let defaultLoginAccount = "nobody"

    let root: String
    let listen: String
    let port: Int
    let passivePorts: PortRange
    let passiveAddress: String
    let usersFile: String?
    let anonymous: Bool
    let writable: Bool
    let maxSessions: Int
    /// Most connections waiting to log in, in all and from one peer address; apart from `maxSessions`.
    let maxPrelogin: Int
    let maxPreloginPerAddress: Int
    let loginTimeout: Double
    let idleTimeout: Double
    let dataTimeout: Double
    let inetd: Bool
    let loginFailureDelay: Double
    let shutdownGrace: Double
    /// Account of anonymous sessions (nil: none of the defaults exists).
    let anonymousAccount: String?
    /// Account of users without one in the users file (nil: the owner of their root directory).
    let userAccount: String?
    /// Account login workers parse the client's first commands as (nil: neither nobody nor an anonymous account exists).
    let loginAccount: String?
    /// This process serves one session (a worker the listener spawned); its id for the log.
    let sessionID: Int?
    /// Most sessions one account worker serves at once (1: a process per session).
    let sessionsPerProcess: Int
    /// Seconds an idle account worker stays.
    let workerIdleExit: Double
    /// A login worker: after the login, the session goes to the listener through this descriptor.
    let handOffFD: Int32?
    /// A login worker whose connection the listener has greeted already.
    let greeted: Bool
    /// An account worker: the account and root it serves.
    let accountWorker: WorkerIdentity?
    /// When an upload appears under its own name (`--upload-visibility`).
    let uploadVisibility: UploadVisibility

    init(root: String, listen: String, port: Int, passivePorts: String, passiveAddress: String,
         usersFile: String?, anonymous: Bool, writable: Bool, maxSessions: Int, idleTimeout: Double,
         dataTimeout: Double, inetd: Bool, allowRemote: Bool, loginFailureDelay: Double,
         shutdownGrace: Double, anonymousAccount: String? = nil, loginAccount: String? = nil, userAccount: String? = nil,
         sessionID: Int? = nil, sessionsPerProcess: Int = ServerConfiguration.defaultSessionsPerProcess,
         workerIdleExit: Double = ServerConfiguration.defaultWorkerIdleExit, handOffFD: Int32? = nil,
         accountWorker: WorkerIdentity? = nil, maxPrelogin: Int = ServerConfiguration.defaultMaxPrelogin,
         maxPreloginPerAddress: Int? = nil,
         loginTimeout: Double = ServerConfiguration.defaultLoginTimeout, greeted: Bool = false,
         uploadVisibility: String = UploadVisibility.atomic.rawValue) throws(ConfigurationError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .rootMissing(root)
        }
        if let code = ConfinedRoot.openat2Failure(at: root) { throw .openat2Refused(root: root, code: code) }
        let host = listen == "localhost" ? "127.0.0.1" : listen
        guard let address = SocketAddress(host: host, port: 0) else { throw .badAddress(option: "--listen", value: listen) }
        guard address.isLoopback || allowRemote else { throw .remoteListen(listen) }
        guard (1...65535).contains(port) else { throw .badPort(port) }
        guard let range = PortRange(passivePorts) else { throw .badPassivePorts(passivePorts) }
        guard SocketAddress(host: passiveAddress, port: 0)?.family == .ipv4 else {
            throw .badAddress(option: "--pasv-address", value: passiveAddress)
        }
        for (option, name) in [("--anonymous-account", anonymousAccount), ("--login-account", loginAccount),
                               ("--user-account", userAccount)] {
            if let name, PosixIdentity.account(named: name) == nil { throw .unknownAccount(option: option, name: name) }
        }
        guard usersFile != nil || anonymous else { throw .noLogin }
        guard !writable || anonymous else { throw .writableWithoutAnonymous }
        if let usersFile {
            do { _ = try UsersFile.load(usersFile) } catch { throw .usersFile(error) }
        }
        guard maxSessions >= 1 else { throw .notPositive(option: "--max-sessions") }
        guard maxPrelogin >= 1 else { throw .notPositive(option: "--max-prelogin") }
        let perAddress = maxPreloginPerAddress ?? maxPrelogin
        guard perAddress >= 1 else { throw .notPositive(option: "--max-prelogin-per-address") }
        guard perAddress <= maxPrelogin else { throw .perAddressAboveTotal(perAddress: perAddress, total: maxPrelogin) }
        guard loginTimeout > 0, loginTimeout.isFinite else { throw .notPositive(option: "--login-timeout") }
        guard idleTimeout > 0 else { throw .notPositive(option: "--idle-timeout") }
        guard dataTimeout > 0 else { throw .notPositive(option: "--data-timeout") }
        guard loginFailureDelay >= 0, shutdownGrace >= 0 else { throw .notPositive(option: "--login-failure-delay") }
        guard sessionsPerProcess >= 1 else { throw .notPositive(option: "--sessions-per-process") }
        guard workerIdleExit >= 0 else { throw .notPositive(option: "--worker-idle-exit") }
        guard let visibility = UploadVisibility(rawValue: uploadVisibility.lowercased()) else {
            throw .badUploadVisibility(uploadVisibility)
        }
        // Absolute: workers may be started from elsewhere in time, and hand-offs carry absolute roots only.
        self.root = root.hasPrefix("/") ? root : FileManager.default.currentDirectoryPath + "/" + root
        self.listen = host
        self.port = port
        self.passivePorts = range
        self.passiveAddress = passiveAddress
        self.usersFile = usersFile
        self.anonymous = anonymous
        self.writable = writable
        self.maxSessions = maxSessions
        self.maxPrelogin = maxPrelogin
        self.maxPreloginPerAddress = perAddress
        self.loginTimeout = loginTimeout
        self.idleTimeout = idleTimeout
        self.dataTimeout = dataTimeout
        self.inetd = inetd
        self.loginFailureDelay = loginFailureDelay
        self.shutdownGrace = shutdownGrace
        self.anonymousAccount = anonymousAccount
            ?? ServerConfiguration.defaultAnonymousAccounts.first { PosixIdentity.account(named: $0) != nil }
        self.userAccount = userAccount
        self.loginAccount = loginAccount
            ?? (PosixIdentity.account(named: ServerConfiguration.defaultLoginAccount) != nil ? ServerConfiguration.defaultLoginAccount : nil)
            ?? self.anonymousAccount
        self.sessionID = sessionID
        self.sessionsPerProcess = sessionsPerProcess
        self.workerIdleExit = workerIdleExit
        self.handOffFD = handOffFD
        self.greeted = greeted
        self.accountWorker = accountWorker
        self.uploadVisibility = visibility
    }

    /// What the FTP engine needs of these settings.
    var sessionSettings: SessionSettings {
        SessionSettings(passivePorts: passivePorts, passiveAddress: passiveAddress, idleTimeout: idleTimeout,
                        dataTimeout: dataTimeout, loginFailureDelay: loginFailureDelay, loginTimeout: loginTimeout,
                        extraCommands: [.siteChmod, .modifyTime])
    }
}

enum ConfigurationError: Error, CustomStringConvertible {
    case rootMissing(String)
    case openat2Refused(root: String, code: Int32)
    case badAddress(option: String, value: String)
    case remoteListen(String)
    case badPort(Int)
    case badPassivePorts(String)
    case noLogin
    case writableWithoutAnonymous
    case usersFile(UsersFileError)
    case notPositive(option: String)
    case unknownAccount(option: String, name: String)
    case perAddressAboveTotal(perAddress: Int, total: Int)
    case badUploadVisibility(String)

    var description: String {
        switch self {
        case .rootMissing(let root):
            return "--root \(root) is not an existing directory; create it or pass another one"
        case .openat2Refused(let root, let code):
            return "openat2(2) fails on --root \(root) (\(PosixError.reason(for: code))), and pasvd resolves every "
                + "client path with it; it needs Linux 5.6 or later and, under systemd, a unit without "
                + "RestrictSUIDSGID=yes (its seccomp filter refuses openat2): remove that setting (systemctl edit pasvd.service)"
        case .badAddress(let option, let value):
            return "\(option) \(value) is not a numeric address; use one such as 127.0.0.1 or ::1"
                + (option == "--pasv-address" ? " (IPv4: 227 replies carry IPv4 only; IPv6 clients get 229)" : "")
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
        case .unknownAccount(let option, let name):
            return "\(option) \(name): no such system account; create it (useradd --system \(name)) or name another"
        case .perAddressAboveTotal(let perAddress, let total):
            return "--max-prelogin-per-address \(perAddress) is above --max-prelogin \(total); lower it or raise --max-prelogin"
        case .badUploadVisibility(let value):
            return "--upload-visibility \(value) is not a choice; write atomic (the default) or immediate"
        }
    }
}
