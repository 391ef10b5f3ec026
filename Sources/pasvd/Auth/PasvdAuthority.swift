import FTPServerKit
import Foundation
import Logging
import PasvdHandOff
import Posix

/// pasvd's logins for the FTP engine: the users file and anonymous policy (`Authenticator`), then the session's
/// root opened with pasvd's rights and the account it runs as (`RunAs`). In a login worker (`handsOver`) a good
/// login is handed over at once (`LoginOutcome.handOver`): the listener maps it to its account and root and passes it
/// to that account's worker; otherwise (`--inetd`) this process switches to the account before any lookup inside
/// the root and serves the kernel-confined `LocalFileStore` itself.
struct PasvdAuthority: SessionAuthority {
    let authenticator: Authenticator
    let configuration: ServerConfiguration
    /// A login worker: successful logins are handed over, never served here.
    var handsOver = false

    func isAnonymous(_ user: String) -> Bool { authenticator.isAnonymous(user) }

    func login(user: String, password: String, logger: Logger) -> LoginOutcome {
        let found: Account?
        do {
            found = try authenticator.authenticate(user: user, password: password)
        } catch {
            logger.error("users file: \(error)")
            return .refused
        }
        guard let found else { return .refused }
        if handsOver {
            // No file is reachable here when pasvd runs as root (`LoginConfinement`): the listener checks the root
            // and maps the user to its account (`AccountMapping`).
            guard !found.root.contains("\n"), found.root.utf8.count <= HandOffMessage.maximumRootBytes else {
                return .unavailable(reason: "root \(found.root) cannot be handed to a worker (newline or too long)", closeSession: false)
            }
            return .handOver(ticket: AuthenticatedLogin(account: found))
        }
        let root: ConfinedRoot
        do {
            root = try ConfinedRoot(path: found.root)
        } catch {
            return .unavailable(reason: "root \(found.root) unavailable: \(error)", closeSession: false)
        }
        let account: SystemAccount?
        do { account = try RunAs.account(for: found, root: root, configuration: configuration) } catch {
            // A permanent misconfiguration of this user (would run as root, no such account): 530, not 421.
            logger.error("user \(found.name) cannot log in until this is fixed: \(error)")
            return .refused
        }
        do {
            if let identity = account {
                try PosixIdentity.switchPermanently(to: identity)
                logger.notice("session runs as \(identity)")
            }
        } catch {
            // The process may be half-switched: it serves nobody else.
            return .unavailable(reason: "\(error)", closeSession: true)
        }
        return .success(LoggedIn(name: found.name, writable: found.writable, isAnonymous: found.isAnonymous,
                                 rootDescription: root.hostRoot, store: LocalFileStore(root: root, uploadVisibility: configuration.uploadVisibility)))
    }
}
