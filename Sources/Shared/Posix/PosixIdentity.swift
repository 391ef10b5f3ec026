#if canImport(Glibc)
import Glibc
#endif

/// A system account a process can switch to.
public struct SystemAccount: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let uid: uid_t
    public let gid: gid_t

    public init(name: String, uid: uid_t, gid: gid_t) {
        self.name = name
        self.uid = uid
        self.gid = gid
    }

    public var description: String { "\(name) (uid \(uid), gid \(gid))" }
}

/// Accounts and the one-way switch of a process to one of them.
public enum PosixIdentity {
    /// The account called `name` from the system's user database (getpwnam_r), nil when there is none.
    public static func account(named name: String) -> SystemAccount? {
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &found) == 0, found != nil else { return nil }
        return SystemAccount(name: name, uid: entry.pw_uid, gid: entry.pw_gid)
    }

    /// The account with `uid`, named as the user database names it (or by number).
    public static func account(uid: uid_t, gid: gid_t) -> SystemAccount {
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        if getpwuid_r(uid, &entry, &buffer, buffer.count, &found) == 0, found != nil, let name = entry.pw_name {
            return SystemAccount(name: String(cString: name), uid: uid, gid: entry.pw_gid)
        }
        return SystemAccount(name: "\(uid)", uid: uid, gid: gid)
    }

    public static var isRoot: Bool { geteuid() == 0 }

    /// Drops every privilege for good: supplementary groups to the account's primary group only, then the gid,
    /// then the uid (real, effective and saved). Verifies that root cannot be regained.
    public static func switchPermanently(to account: SystemAccount) throws(PosixError) {
        var groups = [account.gid]
        try Posix.callBlocking("setgroups \(account.name)") { setgroups(1, &groups) }
        try Posix.callBlocking("setgid \(account.gid)") { setgid(account.gid) }
        try Posix.callBlocking("setuid \(account.uid)") { setuid(account.uid) }
        if account.uid != 0, setuid(0) == 0 { throw PosixError("setuid (regained root)", code: EPERM) }
    }
}
