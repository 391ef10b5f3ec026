import Foundation
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
        do {
            root = try ConfinedRoot(path: found.root)
        } catch {
            logger.error("login refused: root of \(name) unavailable: \(error)")
            reply(ReplyCode.notLoggedIn, "Login incorrect.")
            return
        }
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
