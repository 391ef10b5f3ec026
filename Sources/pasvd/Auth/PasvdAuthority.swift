import FTPServerKit
import Foundation
import Logging
import Posix

/// pasvd's logins for the FTP engine: the users file and anonymous policy (`Authenticator`), then the session's
/// root opened with pasvd's rights and the process switched to the session's account (`RunAs`) before any
/// lookup inside it, and the kernel-confined `LocalFileStore` on that root.
struct PasvdAuthority: SessionAuthority {
    let authenticator: Authenticator
    let configuration: ServerConfiguration

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
        let root: ConfinedRoot
        do {
            root = try ConfinedRoot(path: found.root)
        } catch {
            return .unavailable(reason: "root \(found.root) unavailable: \(error)", closeSession: false)
        }
        do {
            if let identity = try RunAs.account(for: found, root: root, configuration: configuration) {
                try PosixIdentity.switchPermanently(to: identity)
                logger.notice("session runs as \(identity)")
            }
        } catch {
            // The process may be half-switched: it serves nobody else.
            return .unavailable(reason: "\(error)", closeSession: true)
        }
        return .success(LoggedIn(name: found.name, writable: found.writable, isAnonymous: found.isAnonymous,
                                 rootDescription: root.hostRoot, store: LocalFileStore(root: root)))
    }
}
