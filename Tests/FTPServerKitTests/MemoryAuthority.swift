import Logging
@testable import FTPServerKit

/// Who may log in to the engine under test: `alice`/`secret` (writable), `anonymous` with any password (read-only).
struct MemoryAuthority: SessionAuthority {
    let store: MemoryFileStore

    func isAnonymous(_ user: String) -> Bool { user == "anonymous" }

    func login(user: String, password: String, logger: Logger) -> LoginOutcome {
        switch user {
        case "alice" where password == "secret":
            return .success(LoggedIn(name: user, writable: true, isAnonymous: false, rootDescription: "memory", store: store))
        case "anonymous":
            return .success(LoggedIn(name: user, writable: false, isAnonymous: true, rootDescription: "memory", store: store))
        default:
            return .refused
        }
    }
}
