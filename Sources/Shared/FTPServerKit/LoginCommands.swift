import Foundation
import Posix
import FTPCore

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
        if let outcome = authority.loginWithoutPassword(user: name, logger: logger) { return finishLogin(name, outcome) }
        pendingUser = name
        if authority.isAnonymous(name) {
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
        finishLogin(name, authority.login(user: name, password: password, logger: logger))
    }

    private func finishLogin(_ name: String, _ outcome: LoginOutcome) {
        switch outcome {
        case .refused:
            loginFailed(name)
        case .unavailable(let reason, let closeSession):
            logger.error("login refused for \(name): \(reason)")
            reply(ReplyCode.notLoggedIn, "Login incorrect.")
            shouldClose = closeSession
        case .success(let login):
            loggedIn(login)
        case .handOver(let ticket):
            handOver(ticket)
        }
    }

    /// The session serves `login` from now on (here, or in the process it was handed to).
    func loggedIn(_ login: LoggedIn) {
        account = login
        cwd = .root
        logger[metadataKey: "user"] = "\(login.name)"
        logger.notice("login", metadata: ["root": "\(login.rootDescription)", "writable": "\(login.writable)"])
        reply(ReplyCode.loggedIn, login.isAnonymous && !login.writable
              ? "Anonymous login ok, read-only access." : "Login successful.")
    }

    /// Same reply and the same delay whether the user is unknown or the password wrong.
    private func loginFailed(_ name: String) {
        loginFailures += 1
        logger.warning("login failed", metadata: ["user": "\(name)", "failures": "\(loginFailures)"])
        PosixClock.pause(seconds: settings.loginFailureDelay)
        if loginFailures >= Session.maximumLoginFailures {
            reply(ReplyCode.serviceNotAvailable, "Too many failed logins; closing connection.")
            shouldClose = true
        } else {
            reply(ReplyCode.notLoggedIn, "Login incorrect.")
        }
    }
}
