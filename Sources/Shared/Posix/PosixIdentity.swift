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

    /// The home directory of the user called `name` in the user database (getpwnam_r), nil when there is none.
    public static func homeDirectory(ofUser name: String) -> String? {
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &found) == 0, found != nil, let home = entry.pw_dir else { return nil }
        return String(cString: home)
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

    /// getuid(2): the real user id of this process.
    public static var userID: uid_t { getuid() }

    /// getgid(2): the real group id of this process.
    public static var groupID: gid_t { getgid() }

    /// The user database's entry for this process's real uid (getpwuid_r): its name and home directory, nil when
    /// there is none.
    public static func currentUserEntry() -> (name: String, home: String)? {
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwuid_r(getuid(), &entry, &buffer, buffer.count, &found) == 0, found != nil,
              let name = entry.pw_name, let home = entry.pw_dir else { return nil }
        return (String(cString: name), String(cString: home))
    }

    /// True when the process runs as `account` alone (real and effective uid and gid) and can switch back to
    /// neither root's gid nor root's uid: the check after `switchPermanently(to:)`.
    public static func runsOnly(as account: SystemAccount) -> Bool {
        setgid(0) != 0 && setuid(0) != 0 && getuid() == account.uid && geteuid() == account.uid
            && getgid() == account.gid && getegid() == account.gid
    }

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
