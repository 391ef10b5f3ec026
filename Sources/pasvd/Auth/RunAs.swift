import FTPServerKit
import Foundation
import Posix

/// Which system account a logged-in session switches to before it touches a file (pasvd started as root):
/// the user's account from the users file, else --user-account, else the owner of the user's root directory;
/// anonymous sessions use --anonymous-account (default ftp, else nobody). Root is used only when named
/// explicitly; a user who would end up as root implicitly (a root-owned root, no account) is refused.
enum RunAs {
    /// The account to switch to, nil when pasvd does not run as root (sessions then run as pasvd itself).
    static func account(for login: Account, root: ConfinedRoot, configuration: ServerConfiguration) throws(RunAsError) -> SystemAccount? {
        guard PosixIdentity.isRoot else { return nil }
        if login.isAnonymous {
            guard let name = configuration.anonymousAccount else { throw .noAnonymousAccount }
            return try named(name)
        }
        if let name = login.systemAccount ?? configuration.userAccount { return try named(name) }
        let owner = root.owner
        guard owner.uid != 0 else { throw .wouldRunAsRoot(user: login.name, root: login.root) }
        return PosixIdentity.account(uid: owner.uid, gid: owner.gid)
    }

    private static func named(_ name: String) throws(RunAsError) -> SystemAccount {
        guard let account = PosixIdentity.account(named: name) else { throw .unknownAccount(name) }
        return account
    }
}

enum RunAsError: Error, CustomStringConvertible {
    case noAnonymousAccount
    case unknownAccount(String)
    case wouldRunAsRoot(user: String, root: String)

    var description: String {
        switch self {
        case .noAnonymousAccount:
            return "no account for anonymous sessions: neither ftp nor nobody exists; pass --anonymous-account NAME"
        case .unknownAccount(let name):
            return "system account \(name) does not exist; create it (useradd --system \(name)) or fix the users file"
        case .wouldRunAsRoot(let user, let root):
            return "user \(user) would run as root (\(root) is owned by root and no account is mapped); "
                + "add one as the fourth users-file field (name:hash:root:account), pass --user-account, or chown the root"
        }
    }
}
