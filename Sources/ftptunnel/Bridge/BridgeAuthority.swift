import FTPServerKit
import Logging

/// Logins on the bridge: any user name is accepted at USER (230, no password asked). The bridge is reachable
/// only by the local user who started it (`SFTPBridge` checks the socket's owner), and the files are those of
/// that user's SSH account, so an FTP password would protect nothing.
final class BridgeAuthority: SessionAuthority, @unchecked Sendable {
    let store: SFTPFileStore
    let rootDescription: String

    /// `store` belongs to the session's thread, like the authority itself.
    init(store: SFTPFileStore, rootDescription: String) {
        self.store = store
        self.rootDescription = rootDescription
    }

    func isAnonymous(_ user: String) -> Bool { false }

    func login(user: String, password: String, logger: Logger) -> LoginOutcome { loggedIn(user) }

    func loginWithoutPassword(user: String, logger: Logger) -> LoginOutcome? { loggedIn(user) }

    private func loggedIn(_ user: String) -> LoginOutcome {
        .success(LoggedIn(name: user, writable: true, isAnonymous: false, rootDescription: rootDescription, store: store))
    }
}
