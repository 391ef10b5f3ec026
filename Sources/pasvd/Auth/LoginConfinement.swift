import FTPServerKit
import Foundation
import Posix

/// What a login worker started as root does before it reads a client byte, after it loaded everything the login
/// needs (`Authenticator` with the users file in memory): it moves into an empty root of its own (see
/// `PosixConfinement.enterEmptyRoot`), gives up root for the login account (setgroups, setgid, setuid),
/// forbids privilege gains through execve, and checks that neither root nor any capability can be regained.
/// The login worker then parses USER, PASS and whatever else comes before the login with no privilege and no file
/// to reach; the listener maps the user name to its account itself (`AccountMapping`).
enum LoginConfinement {
    /// Where the private empty root is made (and deleted at once); systemd's PrivateTmp keeps it writable.
    static let emptyRootParent = "/tmp"

    /// The account login workers run as: `--login-account`, else nobody, else the anonymous account.
    static func account(_ configuration: ServerConfiguration) throws(LoginConfinementError) -> SystemAccount {
        guard let name = configuration.loginAccount, let account = PosixIdentity.account(named: name) else {
            throw .noAccount
        }
        guard account.uid != 0, account.gid != 0 else { throw .privilegedAccount(account.name) }
        return account
    }

    /// Confines this process for good (only when it runs as root; otherwise nothing changes).
    static func enter(_ configuration: ServerConfiguration) throws(LoginConfinementError) -> SystemAccount? {
        guard PosixIdentity.isRoot else { return nil }
        let account = try account(configuration)
        do {
            try PosixConfinement.enterEmptyRoot(under: emptyRootParent)
            try PosixIdentity.switchPermanently(to: account)
            try PosixConfinement.forbidNewPrivileges()
        } catch {
            throw .failed(error)
        }
        guard PosixIdentity.runsOnly(as: account), PosixConfinement.hasNoCapabilities else {
            throw .regained
        }
        return account
    }
}

enum LoginConfinementError: Error, CustomStringConvertible {
    case noAccount
    case privilegedAccount(String)
    case failed(PosixError)
    case regained

    var description: String {
        switch self {
        case .noAccount:
            return "no account for login workers: nobody does not exist; pass --login-account NAME (useradd --system NAME)"
        case .privilegedAccount(let name):
            return "login account \(name) has uid or gid 0; pass --login-account with an unprivileged account"
        case .failed(let error):
            return "cannot confine the login worker: \(error) (pasvd needs CAP_SYS_CHROOT, CAP_SETUID, CAP_SETGID and a "
                + "writable \(LoginConfinement.emptyRootParent))"
        case .regained:
            return "the login worker could regain a privilege after dropping it; refusing to serve"
        }
    }
}
