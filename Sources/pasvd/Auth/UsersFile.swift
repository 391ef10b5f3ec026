import FTPServerKit
import Foundation
import PasvdHandOff
import Posix

/// One account of the users file: `name:crypthash:root[:account]` (root may be empty: the server's --root;
/// account is the system account the user's sessions run as, see `RunAs`).
struct UserRecord: Equatable, Sendable {
    let name: String
    let hash: String
    let root: String
    var account: String? = nil

    var line: String { "\(name):\(hash):\(root)" + (account.map { ":" + $0 } ?? "") }
}

/// The users file: one `name:crypthash:root[:account]` per line, `#` comments and blank lines ignored.
struct UsersFile: Sendable {
    let path: String
    private(set) var records: [UserRecord]
    /// The line each user was read from (for messages naming FILE:LINE).
    private(set) var lineNumbers: [String: Int] = [:]

    init(path: String, records: [UserRecord], lineNumbers: [String: Int] = [:]) {
        self.path = path
        self.records = records
        self.lineNumbers = lineNumbers
    }

    /// `FILE:LINE` of a user's line, or just the file for a user added since.
    func location(of name: String) -> String { lineNumbers[name].map { "\(path):\($0)" } ?? path }

    /// Reads and validates the file; errors name the file and line.
    static func load(_ path: String) throws(UsersFileError) -> UsersFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path) }
        return try parse(String(decoding: data, as: UTF8.self), path: path)
    }

    static func parse(_ text: String, path: String) throws(UsersFileError) -> UsersFile {
        var records: [UserRecord] = []
        var lineNumbers: [String: Int] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = line.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 3 || fields.count == 4 else { throw .malformed(path: path, line: index + 1) }
            let account = fields.count == 4 && !fields[3].isEmpty ? fields[3] : nil
            if let account, !FTPUserName.isValid(account) { throw .badAccount(path: path, line: index + 1) }
            guard FTPUserName.isValid(fields[0]) else { throw .badName(path: path, line: index + 1) }
            guard CryptHash.isSupported(fields[1]) else { throw .badHash(path: path, line: index + 1) }
            guard fields[2].isEmpty || fields[2].hasPrefix("/") else { throw .relativeRoot(path: path, line: index + 1) }
            guard !records.contains(where: { $0.name == fields[0] }) else {
                throw .duplicate(path: path, line: index + 1, name: fields[0])
            }
            records.append(UserRecord(name: fields[0], hash: fields[1], root: fields[2], account: account))
            lineNumbers[fields[0]] = index + 1
        }
        return UsersFile(path: path, records: records, lineNumbers: lineNumbers)
    }

    func record(named name: String) -> UserRecord? { records.first { $0.name == name } }

    /// Adds the user or replaces its hash (and root when given).
    mutating func upsert(name: String, hash: String, root: String?) {
        if let index = records.firstIndex(where: { $0.name == name }) {
            records[index] = UserRecord(name: name, hash: hash, root: root ?? records[index].root, account: records[index].account)
        } else {
            records.append(UserRecord(name: name, hash: hash, root: root ?? ""))
        }
    }

    /// Writes the file atomically (temporary file in the same directory, mode 0600, fsync, rename).
    func save() throws(UsersFileError) {
        let text = records.map(\.line).joined(separator: "\n") + "\n"
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).tmp.\(PosixProcess.currentID)"
        do throws(PosixError) {
            let file = OwnedDescriptor(try PosixFile.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600))
            do throws(PosixError) {
                var failure: PosixError?
                Array(text.utf8).withUnsafeBytes { bytes in
                    do throws(PosixError) { try PosixFile.writeAll(file.fd, bytes) } catch { failure = error }
                }
                if let failure { throw failure }
                try PosixFile.sync(file.fd)
                try PosixFile.rename(temporary, to: path)
            } catch {
                try? PosixFile.remove(temporary)
                throw error
            }
        } catch {
            throw .unwritable(path, error.description)
        }
    }
}

enum UsersFileError: Error, CustomStringConvertible, Equatable {
    case unreadable(String)
    case malformed(path: String, line: Int)
    case badName(path: String, line: Int)
    case badHash(path: String, line: Int)
    case duplicate(path: String, line: Int, name: String)
    case relativeRoot(path: String, line: Int)
    case badAccount(path: String, line: Int)
    case unwritable(String, String)

    var description: String {
        switch self {
        case .unreadable(let path):
            return "cannot read users file \(path): check the path and its permissions"
        case .malformed(let path, let line):
            return "\(path):\(line): expected name:crypthash:root or name:crypthash:root:account; add users with `pasvd passwd --users \(path) NAME`"
        case .badName(let path, let line):
            return "\(path):\(line): user names may contain only letters, digits, '.', '_', '-' and '@'"
        case .badHash(let path, let line):
            return "\(path):\(line): the hash is not a supported crypt(3) hash; use `pasvd passwd` or `openssl passwd -6`"
        case .duplicate(let path, let line, let name):
            return "\(path):\(line): user \(name) appears twice; keep one line per user"
        case .relativeRoot(let path, let line):
            return "\(path):\(line): the root must be an absolute path, or empty for the server's --root"
        case .badAccount(let path, let line):
            return "\(path):\(line): the fourth field must be a system account name (letters, digits, '.', '_', '-')"
        case .unwritable(let path, let reason):
            return "cannot write users file \(path): \(reason); check the directory is writable"
        }
    }
}
