import Foundation
import Posix

/// Where a running tunnel's control socket lives: `$XDG_RUNTIME_DIR/ftptunnel/NAME.sock`, or without
/// XDG_RUNTIME_DIR `/tmp/ftptunnel-UID/NAME.sock`. The directory is created 0700 and used only when it is a real
/// directory (not a symlink) owned by this user with no access for group or others: another local user must not
/// be able to plant or read a socket there.
struct ControlSocketPath {
    let directory: String
    let name: String
    var path: String { "\(directory)/\(name).sock" }

    static let suffix = ".sock"
    /// The problem text of a directory that is not there (no tunnel ever ran).
    static let missing = "does not exist"

    /// The directory for this user (not created).
    static func directory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let runtime = environment["XDG_RUNTIME_DIR"], runtime.hasPrefix("/") { return "\(runtime)/ftptunnel" }
        return "/tmp/ftptunnel-\(PosixIdentity.userID)"
    }

    /// The socket name for a destination as typed (`mysite`, `deploy@host:22`): characters that cannot be in a
    /// file name, or would be confusing there, become `_`.
    static func socketName(for destination: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._@:+-")
        let name = String(destination.map { allowed.contains($0) ? $0 : "_" }.prefix(64))
        return name.hasPrefix(".") || name.isEmpty ? "_" + name : name
    }

    init(destination: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        directory = Self.directory(environment: environment)
        name = Self.socketName(for: destination)
    }

    init(directory: String, name: String) {
        self.directory = directory
        self.name = name
    }

    /// Creates the directory if missing and checks it is safe; throws with what to do otherwise.
    func prepareDirectory() throws {
        if directory.hasSuffix("/ftptunnel") {
            // XDG_RUNTIME_DIR itself is the session manager's; only our subdirectory is created.
            let parent = String(directory.dropLast("/ftptunnel".count))
            try Self.check(parent, mustBePrivate: false)
        }
        do { try PosixLocalSocket.makeDirectory(directory, mode: 0o700) } catch where error.code == EEXIST {} catch {
            throw ControlSocketError.directory(directory, "cannot be created: \(error.reason)")
        }
        try Self.check(directory, mustBePrivate: true)
    }

    /// Checks the directory without creating it (for `status`, `stop`).
    func checkDirectory() throws { try Self.check(directory, mustBePrivate: true) }

    /// For `status` of every tunnel: throws when XDG_RUNTIME_DIR (or the directory) is unusable, so that an unsafe
    /// or foreign directory is reported as such; a directory that does not exist yet is fine (no tunnel ran).
    func checkBeforeListing() throws {
        if directory.hasSuffix("/ftptunnel") {
            try Self.check(String(directory.dropLast("/ftptunnel".count)), mustBePrivate: false)
        }
        do { try checkDirectory() } catch ControlSocketError.directory(_, let problem) where problem == Self.missing {}
    }

    private static func check(_ path: String, mustBePrivate: Bool) throws {
        let info: stat
        do { info = try PosixLocalSocket.linkStatus(path) } catch {
            throw ControlSocketError.directory(path, error.code == ENOENT ? missing : "cannot be checked (\(error.reason))")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw ControlSocketError.directory(path, "is not a directory (a symlink or a file is never followed)")
        }
        guard info.st_uid == PosixIdentity.userID else {
            throw ControlSocketError.directory(path, "belongs to uid \(info.st_uid), not to you (uid \(PosixIdentity.userID)); remove it or set XDG_RUNTIME_DIR")
        }
        if mustBePrivate, info.st_mode & 0o077 != 0 {
            throw ControlSocketError.directory(path, "is open to other users (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 700 it")
        }
    }

    /// Names of the tunnels whose sockets are in the directory (running or stale).
    func socketNames() -> [String] {
        ((try? PosixLocalSocket.names(in: directory, limit: 256)) ?? [])
            .filter { $0.hasSuffix(Self.suffix) }.map { String($0.dropLast(Self.suffix.count)) }.sorted()
    }
}

enum ControlSocketError: Error, CustomStringConvertible {
    case directory(String, String)
    case alreadyRunning(name: String, path: String)
    case notRunning(name: String, path: String)
    case tooLong(String)
    case unusable(String, String)
    case refused(String)

    var description: String {
        switch self {
        case .directory(let path, let problem):
            return "the control socket directory \(path) \(problem)"
        case .alreadyRunning(let name, let path):
            return "a tunnel named \(name) is already running (control socket \(path)): `ftptunnel status \(name)` shows it, `ftptunnel stop \(name)` ends it"
        case .notRunning(let name, let path):
            return "no tunnel named \(name) is running (no control socket answers at \(path)); start one with `ftptunnel connect \(name)`"
        case .tooLong(let path):
            return "the control socket path \(path) is longer than \(PosixLocalSocket.maximumPathLength - 1) bytes; set XDG_RUNTIME_DIR to a shorter directory"
        case .unusable(let path, let reason):
            return "cannot use the control socket \(path): \(reason)"
        case .refused(let text):
            return "the tunnel refused the request: \(text)"
        }
    }
}

/// Whether a socket file is still there (lstat).
enum PosixLocalSocketProbe {
    static func exists(_ path: String) throws -> Bool {
        do { _ = try PosixLocalSocket.linkStatus(path); return true } catch where error.code == ENOENT { return false }
    }
}
