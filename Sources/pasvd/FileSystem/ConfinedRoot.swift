import FTPServerKit
import Foundation
import Posix

/// The one place where client paths reach the file system. It holds an open descriptor of the session's root
/// directory, and every lookup is a single openat2(2) relative to it with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS:
/// the kernel resolves `..`, absolute paths and symlinks as if the root were `/`, atomically, so a local user
/// swapping a directory for a symlink (renameat2 RENAME_EXCHANGE) can never make a lookup leave the root.
/// Changes (mkdir, unlink, rename, create) act through `*at` calls on a parent descriptor obtained that way plus
/// a single final name; no string path is ever reused after a check.
///
/// Symlinks keep working when their target is inside the root. Absolute symlinks are resolved relative to the
/// root (a link `docs -> /srv/ftp/docs` inside root `/srv/ftp` looks for `/srv/ftp/srv/ftp/docs`), exactly as
/// after chroot(2); a link that points outside finds nothing and is treated as missing. Names reserved for
/// uploads being moved into place are invisible.
final class ConfinedRoot: @unchecked Sendable {
    /// Directory entries a listing returns at most (protects memory against huge directories).
    static let maximumListingEntries = 100_000

    /// The root as configured (logging only: never used to reach a file).
    let hostRoot: String
    private let root: OwnedDescriptor

    init(path: String) throws(PathError) {
        do {
            root = OwnedDescriptor(try PosixFile.open(path, flags: PosixFile.pathOnly | O_DIRECTORY))
        } catch {
            throw .notFound(path)
        }
        hostRoot = path
    }

    /// nil when openat2(2) works in this process, else its errno. Without it no client path resolves; a kernel
    /// before 5.6 and a seccomp filter (systemd's RestrictSUIDSGID=, which cannot see openat2's flags) refuse it
    /// with ENOSYS. `path` is a directory that exists (`--root`); one that cannot be opened is not probed.
    static func openat2Failure(at path: String) -> Int32? {
        guard let directory = try? OwnedDescriptor(PosixFile.open(path, flags: PosixFile.pathOnly | O_DIRECTORY)) else {
            return nil
        }
        do {
            _ = OwnedDescriptor(try PosixFile.openInRoot(directory.fd, ".", flags: PosixFile.pathOnly | O_DIRECTORY))
            return nil
        } catch {
            return error.code
        }
    }

    /// Owner of the root directory (the account unmapped users run as, see `RunAs`).
    var owner: (uid: uid_t, gid: gid_t) {
        let info = try? PosixFile.status(root.fd)
        return (info?.st_uid ?? 0, info?.st_gid ?? 0)
    }

    /// Opens an existing file or directory (symlinks followed, inside the root only).
    func open(_ path: VirtualPath, flags: Int32, mode: mode_t = 0) throws(PathError) -> OwnedDescriptor {
        try rejectHidden(path)
        return try open(relative: ConfinedRoot.relative(path), flags: flags, mode: mode, shown: path)
    }

    /// stat(2) of an existing file or directory (symlinks followed, inside the root only).
    func facts(_ path: VirtualPath) throws(PathError) -> FileFacts {
        let file = try open(path, flags: PosixFile.pathOnly)
        return FileFacts(try ConfinedRoot.mapped(path) { () throws(PosixError) in try PosixFile.status(file.fd) })
    }

    /// An existing directory the session may enter (search permission checked by resolving `dir/.`).
    func enterable(_ path: VirtualPath) throws(PathError) {
        try rejectHidden(path)
        let relative = ConfinedRoot.relative(path) + "/."
        _ = try open(relative: relative, flags: PosixFile.pathOnly | O_DIRECTORY, shown: path)
    }

    /// A directory entry that may or may not exist (for create, delete, rename): its parent is opened now, the
    /// last component itself is never followed.
    func entry(_ path: VirtualPath) throws(PathError) -> ConfinedEntry {
        guard let name = path.name else { throw .isRoot }
        try rejectHidden(path)
        let parent = try open(relative: ConfinedRoot.relative(path.parent), flags: PosixFile.pathOnly | O_DIRECTORY, shown: path.parent)
        return ConfinedEntry(directory: parent, name: name, path: path)
    }

    /// The entries of a directory with their facts, sorted by name. Symlinks are shown with their target's facts;
    /// those whose target is missing or outside the root are left out, as are reserved names.
    func listing(_ path: VirtualPath) throws(PathError) -> [(name: String, facts: FileFacts)] {
        let directory = try open(path, flags: O_RDONLY | O_DIRECTORY)
        let names = try ConfinedRoot.mapped(path) { () throws(PosixError) in
            try PosixFile.directoryNames(directory.fd, limit: ConfinedRoot.maximumListingEntries)
        }
        var entries: [(name: String, facts: FileFacts)] = []
        for raw in names {
            let name = PathName.decode(raw)
            guard !SafeUpload.isTemporaryName(name),
                  let info = try? PosixFile.linkStatus(directory.fd, name) else { continue }
            if info.st_mode & S_IFMT == S_IFLNK {
                guard let target = try? facts(path.appending(name)) else { continue }
                entries.append((name, target))
            } else {
                entries.append((name, FileFacts(info)))
            }
        }
        return entries.sorted { $0.name < $1.name }
    }

    private func open(relative: String, flags: Int32, mode: mode_t = 0, shown: VirtualPath) throws(PathError) -> OwnedDescriptor {
        OwnedDescriptor(try ConfinedRoot.mapped(shown) { () throws(PosixError) in
            try PosixFile.openInRoot(root.fd, relative, flags: flags, mode: mode)
        })
    }

    private func rejectHidden(_ path: VirtualPath) throws(PathError) {
        if path.components.contains(where: SafeUpload.isTemporaryName) { throw .hiddenName(path.description) }
    }

    /// `.` or `./a/b`: relative to the root descriptor (RESOLVE_IN_ROOT would treat `/a/b` the same way).
    static func relative(_ path: VirtualPath) -> String {
        path.isRoot ? "." : "./" + path.components.joined(separator: "/")
    }

    /// Runs a system call for `path`, turning "does not resolve" errors into `.notFound` (a symlink leaving the
    /// root loops or misses, which reads as not found), the rest into `.system`.
    static func mapped<T>(_ path: VirtualPath, _ body: () throws(PosixError) -> T) throws(PathError) -> T {
        do {
            return try body()
        } catch {
            switch error.code {
            case ENOENT, ELOOP, ENOTDIR, EXDEV, ENAMETOOLONG: throw .notFound(path.description)
            default: throw .system(error)
            }
        }
    }
}

/// A name inside a directory that was opened through `ConfinedRoot`: the directory is held open, so later
/// calls act on that very directory whatever happens to the path meanwhile; the name is never followed.
final class ConfinedEntry: @unchecked Sendable {
    let directory: OwnedDescriptor
    let name: String
    /// The client's view of this entry (replies and logs).
    let path: VirtualPath

    init(directory: OwnedDescriptor, name: String, path: VirtualPath) {
        self.directory = directory
        self.name = name
        self.path = path
    }

    /// lstat(2) of the entry; nil when it does not exist.
    func status() throws(PosixError) -> stat? {
        do {
            return try PosixFile.linkStatus(directory.fd, name)
        } catch where error.code == ENOENT {
            return nil
        }
    }

    /// Opens the entry itself (O_NOFOLLOW: a symlink here is refused with ELOOP).
    func open(flags: Int32, mode: mode_t = 0) throws(PosixError) -> OwnedDescriptor {
        // The entry is one component, so this resolution cannot leave `directory`.
        OwnedDescriptor(try PosixFile.openInRoot(directory.fd, name, flags: flags | O_NOFOLLOW, mode: mode))
    }

    func makeDirectory() throws(PosixError) { try PosixFile.makeDirectory(directory.fd, name, mode: 0o755) }
    func remove(directory isDirectory: Bool) throws(PosixError) {
        try PosixFile.remove(directory.fd, name, directory: isDirectory)
    }
    func rename(to target: ConfinedEntry) throws(PosixError) {
        try PosixFile.rename(directory.fd, name, target.directory.fd, target.name)
    }
}
