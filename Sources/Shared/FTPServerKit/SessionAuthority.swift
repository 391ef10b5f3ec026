import Logging
import FTPCore

/// Who may log in, and what a login yields: the identity shown in STAT and the store the session serves.
/// pasvd's implementation checks the users file, opens the confined root and switches the process to the
/// session's account; the engine only sees the outcome.
public protocol SessionAuthority: Sendable {
    /// True for names logged in as anonymous (USER's 331 text differs).
    func isAnonymous(_ user: String) -> Bool
    func login(user: String, password: String, logger: Logger) -> LoginOutcome
    /// A login decided by USER alone (230 at once, no password asked), or nil to ask for a password (the default).
    func loginWithoutPassword(user: String, logger: Logger) -> LoginOutcome?
}

extension SessionAuthority {
    public func loginWithoutPassword(user: String, logger: Logger) -> LoginOutcome? { nil }
}

public enum LoginOutcome {
    case success(LoggedIn)
    /// Wrong name or password: same reply and delay whichever it was.
    case refused
    /// The credentials were right but the session cannot be served (root missing, account switch failed);
    /// `closeSession` when the process is in no state to serve anything else.
    case unavailable(reason: String, closeSession: Bool)
    /// The credentials were right and another process serves the session from here on: the engine replies
    /// nothing more, stops, and leaves `ticket` (the server's own description of the login) with the state the
    /// next process needs in `Session.handedOver`.
    case handOver(ticket: any Sendable)
}

/// A session that logged in here and goes on elsewhere (`LoginOutcome.handOver`).
public struct HandedOver: Sendable {
    public let ticket: any Sendable
    public let state: SessionResumeState
}

/// What a session set before its login that must survive the move to another process. Only OPTS MLST changes
/// state before login; the working directory is always the root right after it.
public struct SessionResumeState: Sendable, Equatable {
    /// The MLST/MLSD facts OPTS MLST selected.
    public let selectedFacts: [String]

    public init(selectedFacts: [String]) {
        self.selectedFacts = selectedFacts
    }

    /// The facts a session selects by default (all of them).
    public static let initial = SessionResumeState(selectedFacts: Session.machineFacts)

    /// Facts the engine knows, in its order: anything else is dropped.
    public static let knownFacts = Session.machineFacts
}

/// The authority of a session resumed after a login elsewhere: USER and PASS answer "already logged in" before
/// they ever reach it, so it refuses everything.
struct ResumedSessionAuthority: SessionAuthority {
    func isAnonymous(_ user: String) -> Bool { false }
    func login(user: String, password: String, logger: Logger) -> LoginOutcome { .refused }
}

/// A logged-in session's identity and files.
public struct LoggedIn {
    public let name: String
    public let writable: Bool
    public let isAnonymous: Bool
    /// Where the files come from, for the log.
    public let rootDescription: String
    public let store: FileStore

    public init(name: String, writable: Bool, isAnonymous: Bool, rootDescription: String, store: FileStore) {
        self.name = name
        self.writable = writable
        self.isAnonymous = isAnonymous
        self.rootDescription = rootDescription
        self.store = store
    }
}

/// The settings the engine needs, validated by the server that embeds it.
public struct SessionSettings: Sendable {
    public let passivePorts: PortRange
    /// IPv4 address announced in 227 replies.
    public let passiveAddress: String
    public let idleTimeout: Double
    public let dataTimeout: Double
    public let loginFailureDelay: Double
    /// Seconds from the greeting to a successful login, whatever the client sends meanwhile (NOOP included);
    /// then 421 and close (ProFTPD's `TimeoutLogin`).
    public let loginTimeout: Double
    /// Named in the greeting and in STAT.
    public let serverName: String
    /// Commands beyond the base set that this server offers (FEAT and HELP list only offered ones).
    public let extraCommands: Set<ExtraCommand>

    public init(passivePorts: PortRange, passiveAddress: String, idleTimeout: Double, dataTimeout: Double,
                loginFailureDelay: Double, loginTimeout: Double = .infinity, serverName: String = "pasvd",
                extraCommands: Set<ExtraCommand> = []) {
        self.passivePorts = passivePorts
        self.passiveAddress = passiveAddress
        self.idleTimeout = idleTimeout
        self.dataTimeout = dataTimeout
        self.loginFailureDelay = loginFailureDelay
        self.loginTimeout = loginTimeout
        self.serverName = serverName
        self.extraCommands = extraCommands
    }
}

/// Commands a server embedding the engine may switch on.
public enum ExtraCommand: Sendable, Hashable {
    /// PORT and EPRT, to the control connection's own peer address only (ports ≥ 1024): the server connects out.
    case activeMode
    /// SITE CHMOD through `FileStore.setPermissions`.
    case siteChmod
    /// MFMT (set the modification time) through `FileStore.setModificationTime`.
    case modifyTime
}
