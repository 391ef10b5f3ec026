import FTPServerKit
import Foundation
import PasvdHandOff
import Posix

/// The listener's own answer to "which account worker serves this login". A login worker only vouches that a user
/// name logged in (it runs unprivileged and may be compromised); the account, root and rights come from here: the
/// anonymous policy of the configuration, or the user's line of the users file (read at each hand-off, so a
/// worker cannot hand a session to an account or root its user name does not map to) and `RunAs`. What the login
/// worker claimed for uid, gid, root and writable is ignored.
struct AccountMapping {
    let configuration: ServerConfiguration

    /// Start-up check of every users-file line (pasvd started as root): a user whose sessions could never start
    /// (would run as root, unknown account) is named with its FILE:LINE; each such login will get a 530.
    func misconfiguredUsers() -> [String] {
        guard PosixIdentity.isRoot, let path = configuration.usersFile, let file = try? UsersFile.load(path) else { return [] }
        var problems: [String] = []
        for record in file.records {
            let account = Authenticator.account(for: record, defaultRoot: configuration.root)
            guard let root = try? ConfinedRoot(path: account.root) else { continue }
            do { _ = try RunAs.account(for: account, root: root, configuration: configuration) } catch {
                problems.append(AccountMappingError.misconfigured(user: record.name, location: file.location(of: record.name),
                                                                  reason: "\(error)").description)
            }
        }
        return problems
    }

    /// `claim` with the account worker identity and rights its user name maps to.
    func resolve(_ claim: SessionHandOff) throws(AccountMappingError) -> SessionHandOff {
        let account: Account
        var location = "the anonymous settings"
        if claim.isAnonymous {
            guard configuration.anonymous, claim.user == "anonymous" else { throw .notMapped(claim.user) }
            account = Authenticator.anonymousAccount(root: configuration.root, writable: configuration.writable)
        } else {
            guard let path = configuration.usersFile else { throw .notMapped(claim.user) }
            let file: UsersFile
            do { file = try UsersFile.load(path) } catch { throw .usersFile(error) }
            guard let record = file.record(named: claim.user) else { throw .notMapped(claim.user) }
            account = Authenticator.account(for: record, defaultRoot: configuration.root)
            location = file.location(of: record.name)
        }
        guard !account.root.contains("\n"), account.root.utf8.count <= HandOffMessage.maximumRootBytes else {
            throw .unavailable("root \(account.root) cannot be handed to a worker (newline or too long)")
        }
        let identity: SystemAccount
        let root: ConfinedRoot
        do { root = try ConfinedRoot(path: account.root) } catch { throw .unavailable("\(error)") }
        do {
            identity = try RunAs.account(for: account, root: root, configuration: configuration)
                ?? PosixIdentity.account(uid: PosixIdentity.userID, gid: PosixIdentity.groupID)
        } catch {
            throw .misconfigured(user: account.name, location: location, reason: "\(error)")
        }
        return SessionHandOff(sessionID: claim.sessionID, user: account.name, isAnonymous: account.isAnonymous,
                              writable: account.writable,
                              worker: WorkerIdentity(uid: identity.uid, gid: identity.gid, root: account.root),
                              state: claim.state)
    }
}

enum AccountMappingError: Error, CustomStringConvertible {
    case notMapped(String)
    case usersFile(UsersFileError)
    case unavailable(String)
    /// The user's own settings can never give a session (would run as root, no such account): a permanent refusal.
    case misconfigured(user: String, location: String, reason: String)

    var description: String {
        switch self {
        case .notMapped(let user): return "user \(user) has no account here (not in the users file, or anonymous logins are off)"
        case .usersFile(let error): return "users file: \(error)"
        case .unavailable(let reason): return reason
        case .misconfigured(let user, let location, let reason):
            return "\(location): user \(user) cannot log in until this is fixed: \(reason)"
        }
    }
}
