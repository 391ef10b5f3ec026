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

/// Checks USER/PASS against the users file (re-read at each attempt, so `pasvd passwd` takes effect at once)
/// and the anonymous policy. Unknown users cost the same hash computation as known ones.
final class Authenticator: Sendable {
    static let anonymousNames: Set<String> = ["anonymous", "ftp"]

    let usersFile: String?
    let anonymous: Bool
    let anonymousWritable: Bool
    let defaultRoot: String
    private let decoyHash: String

    init(usersFile: String?, anonymous: Bool, anonymousWritable: Bool, defaultRoot: String) throws {
        self.usersFile = usersFile
        self.anonymous = anonymous
        self.anonymousWritable = anonymousWritable
        self.defaultRoot = defaultRoot
        decoyHash = try CryptHash.make(password: UUID().uuidString)
    }

    func isAnonymous(_ user: String) -> Bool { anonymous && Authenticator.anonymousNames.contains(user.lowercased()) }

    /// The account for a correct USER/PASS pair, nil otherwise (no hint which part was wrong).
    func authenticate(user: String, password: String) throws(UsersFileError) -> Account? {
        if isAnonymous(user) {
            return Account(name: "anonymous", root: defaultRoot, writable: anonymousWritable, isAnonymous: true)
        }
        let record = try usersFile.map { path throws(UsersFileError) in try UsersFile.load(path) }?.record(named: user)
        let matches = CryptHash.verify(password: password, hash: record?.hash ?? decoyHash)
        guard let record, matches else { return nil }
        return Account(name: record.name, root: record.root.isEmpty ? defaultRoot : record.root,
                       writable: true, isAnonymous: false, systemAccount: record.account)
    }
}
