import Foundation
import Posix
import Shared

/// USER, PASS.
extension Session {
    func user(_ name: String) {
        guard account == nil else {
            reply(ReplyCode.notLoggedIn, "Already logged in; cannot change user.")
            return
        }
        guard !name.isEmpty else {
            reply(ReplyCode.parameterSyntaxError, "USER needs a name.")
            return
        }
        pendingUser = name
        if context.authenticator.isAnonymous(name) {
            reply(ReplyCode.needPassword, "Anonymous login ok, send your e-mail address as password.")
        } else {
            reply(ReplyCode.needPassword, "Password required for \(name).")
        }
    }

    func pass(_ password: String) {
        guard account == nil else {
            reply(ReplyCode.loggedIn, "Already logged in.")
            return
        }
        guard let name = pendingUser else {
            reply(ReplyCode.badSequence, "Send USER first.")
            return
        }
        pendingUser = nil
        let found: Account?
        do {
            found = try context.authenticator.authenticate(user: name, password: password)
        } catch {
            logger.error("users file: \(error)")
            found = nil
        }
        guard let found else { return loginFailed(name) }
        // The root is opened with pasvd's rights (as chroot(2) would be); every lookup inside it happens after
        // the switch to the session's account, so the kernel checks that account's permissions.
        let opened: ConfinedRoot
        do {
            opened = try ConfinedRoot(path: found.root)
        } catch {
            logger.error("login refused: root of \(name) unavailable: \(error)")
            reply(ReplyCode.notLoggedIn, "Login incorrect.")
            return
        }
        do {
            if let identity = try RunAs.account(for: found, root: opened, configuration: configuration) {
                try PosixIdentity.switchPermanently(to: identity)
                logger.notice("session runs as \(identity)")
            }
        } catch {
            logger.error("login refused for \(name): \(error)")
            reply(ReplyCode.notLoggedIn, "Login incorrect.")
            shouldClose = true  // the process may be half-switched: it serves nobody else
            return
        }
        root = opened
        account = found
        cwd = .root
        logger[metadataKey: "user"] = "\(found.name)"
        logger.notice("login", metadata: ["root": "\(root!.hostRoot)", "writable": "\(found.writable)"])
        reply(ReplyCode.loggedIn, found.isAnonymous && !found.writable
              ? "Anonymous login ok, read-only access." : "Login successful.")
    }

    /// Same reply and the same delay whether the user is unknown or the password wrong.
    private func loginFailed(_ name: String) {
        loginFailures += 1
        logger.warning("login failed", metadata: ["user": "\(name)", "failures": "\(loginFailures)"])
        usleep(useconds_t(configuration.loginFailureDelay * 1_000_000))
        if loginFailures >= Session.maximumLoginFailures {
            reply(ReplyCode.serviceNotAvailable, "Too many failed logins; closing connection.")
            shouldClose = true
        } else {
            reply(ReplyCode.notLoggedIn, "Login incorrect.")
        }
    }
}
