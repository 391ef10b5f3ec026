import FTPServerKit
import Foundation

/// A logged-in identity: who, where their root is, and whether they may change files.
struct Account: Sendable, Equatable {
    let name: String
    let root: String
    let writable: Bool
    let isAnonymous: Bool
    /// The system account named in the users file (fourth field), if any.
    var systemAccount: String? = nil
}

/// Checks USER/PASS against the users file and the anonymous policy. The file is re-read at each attempt (so
/// `pasvd passwd` takes effect at once), or read once at start (`preloaded`: a login worker that gives up its
/// file access before the first client byte; each connection has its own). Unknown users cost the same hash
/// computation as known ones.
final class Authenticator: Sendable {
    static let anonymousNames: Set<String> = ["anonymous", "ftp"]

    let usersFile: String?
    let anonymous: Bool
    let anonymousWritable: Bool
    let defaultRoot: String
    private let decoyHash: String
    /// The users file as read at start, when preloaded.
    private let snapshot: UsersFile?

    init(usersFile: String?, anonymous: Bool, anonymousWritable: Bool, defaultRoot: String, preloaded: Bool = false) throws {
        self.usersFile = usersFile
        self.anonymous = anonymous
        self.anonymousWritable = anonymousWritable
        self.defaultRoot = defaultRoot
        decoyHash = try CryptHash.make(password: UUID().uuidString)
        snapshot = preloaded ? try usersFile.map { path throws(UsersFileError) in try UsersFile.load(path) } : nil
    }

    func isAnonymous(_ user: String) -> Bool { anonymous && Authenticator.anonymousNames.contains(user.lowercased()) }

    /// The account for a correct USER/PASS pair, nil otherwise (no hint which part was wrong).
    func authenticate(user: String, password: String) throws(UsersFileError) -> Account? {
        if isAnonymous(user) { return Authenticator.anonymousAccount(root: defaultRoot, writable: anonymousWritable) }
        var file = snapshot
        if file == nil, let usersFile { file = try UsersFile.load(usersFile) }
        let record = file?.record(named: user)
        let matches = CryptHash.verify(password: password, hash: record?.hash ?? decoyHash)
        guard let record, matches else { return nil }
        return Authenticator.account(for: record, defaultRoot: defaultRoot)
    }

    /// The account of anonymous logins.
    static func anonymousAccount(root: String, writable: Bool) -> Account {
        Account(name: "anonymous", root: root, writable: writable, isAnonymous: true)
    }

    /// The account of a users-file user (an empty root is the server's --root).
    static func account(for record: UserRecord, defaultRoot: String) -> Account {
        Account(name: record.name, root: record.root.isEmpty ? defaultRoot : record.root,
                writable: true, isAnonymous: false, systemAccount: record.account)
    }
}
