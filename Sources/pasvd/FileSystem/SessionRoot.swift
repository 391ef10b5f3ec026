import Foundation

/// The one place where client paths become host paths. Every command that touches the file system
/// asks this type; nothing else joins strings into paths.
///
/// Resolution is lexical first (`VirtualPath`), then checked on disk with realpath(3): the canonical
/// result must lie inside the canonical root, so a symlink pointing outside (`etc -> /etc`) is refused
/// as if it did not exist. Names reserved for in-flight uploads are invisible.
/// Clients cannot create symlinks over FTP; the remaining race (a local user swapping a directory for a
/// symlink between the check and the use) is narrowed by opening the final component with O_NOFOLLOW.
struct SessionRoot: Sendable {
    /// Canonical absolute path of the root directory (no trailing slash unless it is `/`).
    let hostRoot: String

    init(path: String) throws(PathError) {
        guard let real = SessionRoot.canonical(path) else { throw .notFound(path) }
        var info = stat()
        guard stat(real, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else { throw .notFound(path) }
        hostRoot = real
    }

    /// An existing file or directory (symlinks followed, but only within the root).
    func existing(_ path: VirtualPath) throws(PathError) -> HostPath {
        try rejectHidden(path)
        guard let real = SessionRoot.canonical(lexicalHostPath(path)) else { throw .notFound(path.description) }
        guard contains(real) else { throw .outsideRoot(path.description) }
        return HostPath(path: real)
    }

    /// A directory entry that may or may not exist (for create, delete, rename): its parent must be an
    /// existing directory inside the root; the last component itself is never followed.
    func entry(_ path: VirtualPath) throws(PathError) -> HostEntry {
        guard let name = path.name else { throw .isRoot }
        try rejectHidden(path)
        let directory = try existing(path.parent)
        return HostEntry(directory: directory, name: name)
    }

    /// The entry `name` listed in `directory`, or nil when it is a symlink whose target is missing or
    /// lies outside the root (such entries are not shown), or a reserved temporary name.
    func listed(_ name: String, in directory: HostPath) -> HostPath? {
        guard !SafeUpload.isTemporaryName(name), name != ".", name != ".." else { return nil }
        let candidate = HostEntry(directory: directory, name: name).path
        guard let real = SessionRoot.canonical(candidate), contains(real) else { return nil }
        return HostPath(path: real)
    }

    /// True when the canonical host path `real` is the root or below it.
    func contains(_ real: String) -> Bool {
        if hostRoot == "/" { return real.hasPrefix("/") }
        return real == hostRoot || real.hasPrefix(hostRoot + "/")
    }

    private func rejectHidden(_ path: VirtualPath) throws(PathError) {
        if path.components.contains(where: SafeUpload.isTemporaryName) { throw .hiddenName(path.description) }
    }

    /// The lexical host path of a normalised virtual path (components contain no `/`, `.` or `..`).
    private func lexicalHostPath(_ path: VirtualPath) -> String {
        path.isRoot ? hostRoot : (hostRoot == "/" ? "" : hostRoot) + path.description
    }

    static func canonical(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

/// A canonical host path already checked to lie inside a session root.
struct HostPath: Sendable, Equatable {
    let path: String
}

/// A name inside an existing, checked directory; the name itself is not followed if it is a symlink.
struct HostEntry: Sendable, Equatable {
    let directory: HostPath
    let name: String

    var path: String { directory.path == "/" ? "/" + name : directory.path + "/" + name }
}
