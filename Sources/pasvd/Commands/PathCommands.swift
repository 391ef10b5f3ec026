import Foundation
import Shared

/// Path resolution for handlers (always through `SessionRoot`), and PWD CWD MKD RMD DELE RNFR RNTO SIZE MDTM.
extension Session {
    /// The client's argument as a normalised virtual path, or nil after a 501 reply.
    func virtualPath(_ argument: String) -> VirtualPath? {
        do {
            return try VirtualPath.resolve(argument, from: cwd)
        } catch {
            refuse(error)
            return nil
        }
    }

    /// An existing file or directory inside the root, or nil after a 5xx reply.
    func existing(_ argument: String) -> (virtual: VirtualPath, host: HostPath)? {
        guard let root, let path = virtualPath(argument) else { return nil }
        do {
            return (path, try root.existing(path))
        } catch {
            refuse(error)
            return nil
        }
    }

    /// A directory entry (existing or not) inside the root, or nil after a 5xx reply.
    func entry(_ argument: String) -> (virtual: VirtualPath, host: HostEntry)? {
        guard let root, let path = virtualPath(argument) else { return nil }
        do {
            return (path, try root.entry(path))
        } catch {
            refuse(error)
            return nil
        }
    }

    /// True when the session may change files; otherwise replies 550.
    func requireWritable() -> Bool {
        if account?.writable == true { return true }
        reply(ReplyCode.fileUnavailable, "Permission denied (read-only session).")
        return false
    }

    func refuse(_ error: PathError) {
        if case .outsideRoot = error { logger.warning("refused path: \(error)") } else { logger.info("refused path: \(error)") }
        switch error {
        case .nulByte: reply(ReplyCode.parameterSyntaxError, "Path contains a NUL byte.")
        case .tooLong: reply(ReplyCode.fileNameNotAllowed, "Path or file name too long.")
        case .isRoot: reply(ReplyCode.fileUnavailable, "Not allowed on the root directory.")
        case .outsideRoot, .notFound, .hiddenName: reply(ReplyCode.fileUnavailable, "No such file or directory.")
        }
    }

    func refuse(errno code: Int32, _ what: String) {
        logger.info("\(what) failed: \(String(cString: strerror(code)))")
        switch code {
        case EACCES, EPERM, EROFS: reply(ReplyCode.fileUnavailable, "Permission denied.")
        case ENOENT: reply(ReplyCode.fileUnavailable, "No such file or directory.")
        case EEXIST: reply(ReplyCode.fileUnavailable, "File exists.")
        case ENOTEMPTY: reply(ReplyCode.fileUnavailable, "Directory not empty.")
        case ENOTDIR: reply(ReplyCode.fileUnavailable, "Not a directory.")
        case EISDIR: reply(ReplyCode.fileUnavailable, "Is a directory.")
        case ENOSPC, EDQUOT: reply(ReplyCode.exceededStorage, "No space left.")
        default: reply(ReplyCode.fileUnavailable, "\(what) failed.")
        }
    }

    static func quoted(_ path: VirtualPath) -> String {
        "\"" + path.description.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    func printDirectory() {
        reply(ReplyCode.pathCreated, "\(Session.quoted(cwd)) is the current directory.")
    }

    func changeDirectory(_ argument: String) {
        guard let (path, host) = existing(argument.isEmpty ? "/" : argument) else { return }
        guard FileFacts.of(host)?.kind == .directory else {
            return reply(ReplyCode.fileUnavailable, "Not a directory.")
        }
        guard access(host.path, X_OK) == 0 else { return refuse(errno: errno, "CWD") }
        cwd = path
        reply(ReplyCode.fileActionOK, "Directory changed to \(path).")
    }

    func makeDirectory(_ argument: String) {
        guard requireWritable(), let (path, host) = entry(argument) else { return }
        guard mkdir(host.path, 0o755) == 0 else { return refuse(errno: errno, "MKD") }
        logger.notice("mkdir", metadata: ["path": "\(path)"])
        reply(ReplyCode.pathCreated, "\(Session.quoted(path)) created.")
    }

    func removeDirectory(_ argument: String) {
        guard requireWritable(), let (path, host) = entry(argument) else { return }
        guard rmdir(host.path) == 0 else { return refuse(errno: errno, "RMD") }
        logger.notice("rmdir", metadata: ["path": "\(path)"])
        reply(ReplyCode.fileActionOK, "Directory removed.")
    }

    func delete(_ argument: String) {
        guard requireWritable(), let (path, host) = entry(argument) else { return }
        var info = Glibc.stat()
        guard lstat(host.path, &info) == 0 else { return refuse(errno: errno, "DELE") }
        guard info.st_mode & S_IFMT != S_IFDIR else { return reply(ReplyCode.fileUnavailable, "Is a directory; use RMD.") }
        guard unlink(host.path) == 0 else { return refuse(errno: errno, "DELE") }
        logger.notice("delete", metadata: ["path": "\(path)"])
        reply(ReplyCode.fileActionOK, "File deleted.")
    }

    func renameFrom(_ argument: String) {
        guard requireWritable(), let (_, host) = entry(argument) else { return }
        var info = Glibc.stat()
        guard lstat(host.path, &info) == 0 else { return refuse(errno: errno, "RNFR") }
        renameSource = host
        reply(ReplyCode.pendingFurtherInformation, "Ready for RNTO.")
    }

    func renameTo(_ argument: String, source: HostEntry?) {
        guard let source else { return reply(ReplyCode.badSequence, "Send RNFR first.") }
        guard requireWritable(), let (path, host) = entry(argument) else { return }
        guard rename(source.path, host.path) == 0 else { return refuse(errno: errno, "RNTO") }
        logger.notice("rename", metadata: ["from": "\(source.name)", "to": "\(path)"])
        reply(ReplyCode.fileActionOK, "Rename successful.")
    }

    func size(_ argument: String) {
        guard let (_, host) = existing(argument) else { return }
        guard let facts = FileFacts.of(host), facts.kind == .file else {
            return reply(ReplyCode.fileUnavailable, "Not a regular file.")
        }
        reply(ReplyCode.fileStatus, "\(facts.size)")
    }

    func modificationTime(_ argument: String) {
        guard let (_, host) = existing(argument) else { return }
        guard let facts = FileFacts.of(host) else { return reply(ReplyCode.fileUnavailable, "No such file or directory.") }
        reply(ReplyCode.fileStatus, facts.timestamp)
    }
}
