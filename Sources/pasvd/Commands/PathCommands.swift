import Foundation
import Posix
import Shared

/// Path resolution for handlers (always through `ConfinedRoot`), and PWD CWD MKD RMD DELE RNFR RNTO SIZE MDTM.
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

    /// The facts of an existing file or directory inside the root, or nil after a 5xx reply.
    func existing(_ argument: String) -> (virtual: VirtualPath, facts: FileFacts)? {
        guard let root, let path = virtualPath(argument) else { return nil }
        do {
            return (path, try root.facts(path))
        } catch {
            refuse(error)
            return nil
        }
    }

    /// A directory entry (existing or not) inside the root, its parent held open, or nil after a 5xx reply.
    func entry(_ argument: String) -> ConfinedEntry? {
        guard let root, let path = virtualPath(argument) else { return nil }
        do {
            return try root.entry(path)
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
        logger.info("refused path: \(error)")
        switch error {
        case .nulByte: reply(ReplyCode.parameterSyntaxError, "Path contains a NUL byte.")
        case .tooLong: reply(ReplyCode.fileNameNotAllowed, "Path or file name too long.")
        case .isRoot: reply(ReplyCode.fileUnavailable, "Not allowed on the root directory.")
        case .notFound, .hiddenName: reply(ReplyCode.fileUnavailable, "No such file or directory.")
        case .system(let failure): refuse(failure)
        }
    }

    func refuse(_ error: PosixError) { refuse(errno: error.code, error.function) }

    func refuse(errno code: Int32, _ what: String) {
        logger.info("\(what) failed: \(String(cString: strerror(code)))")
        switch code {
        case EACCES, EPERM, EROFS: reply(ReplyCode.fileUnavailable, "Permission denied.")
        case ENOENT, ELOOP: reply(ReplyCode.fileUnavailable, "No such file or directory.")
        case EEXIST: reply(ReplyCode.fileUnavailable, "File exists.")
        case ENOTEMPTY: reply(ReplyCode.fileUnavailable, "Directory not empty.")
        case ENOTDIR: reply(ReplyCode.fileUnavailable, "Not a directory.")
        case EISDIR: reply(ReplyCode.fileUnavailable, "Is a directory.")
        case ENOSPC, EDQUOT: reply(ReplyCode.exceededStorage, "No space left.")
        default: reply(ReplyCode.fileUnavailable, "\(what.split(separator: " ").first ?? "operation") failed.")
        }
    }

    static func quoted(_ path: VirtualPath) -> String {
        "\"" + path.description.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    func printDirectory() {
        reply(ReplyCode.pathCreated, "\(Session.quoted(cwd)) is the current directory.")
    }

    func changeDirectory(_ argument: String) {
        guard let root, let (path, facts) = existing(argument.isEmpty ? "/" : argument) else { return }
        guard facts.kind == .directory else { return reply(ReplyCode.fileUnavailable, "Not a directory.") }
        do { try root.enterable(path) } catch { return refuse(error) }
        cwd = path
        reply(ReplyCode.fileActionOK, "Directory changed to \(path).")
    }

    func makeDirectory(_ argument: String) {
        guard requireWritable(), let entry = entry(argument) else { return }
        do { try entry.makeDirectory() } catch { return refuse(error) }
        logger.notice("mkdir", metadata: ["path": "\(entry.path)"])
        reply(ReplyCode.pathCreated, "\(Session.quoted(entry.path)) created.")
    }

    func removeDirectory(_ argument: String) {
        guard requireWritable(), let entry = entry(argument) else { return }
        do { try entry.remove(directory: true) } catch { return refuse(error) }
        logger.notice("rmdir", metadata: ["path": "\(entry.path)"])
        reply(ReplyCode.fileActionOK, "Directory removed.")
    }

    func delete(_ argument: String) {
        guard requireWritable(), let entry = entry(argument) else { return }
        do {
            guard let info = try entry.status() else { return refuse(errno: ENOENT, "DELE") }
            guard info.st_mode & S_IFMT != S_IFDIR else { return reply(ReplyCode.fileUnavailable, "Is a directory; use RMD.") }
            try entry.remove(directory: false)
        } catch {
            return refuse(error)
        }
        logger.notice("delete", metadata: ["path": "\(entry.path)"])
        reply(ReplyCode.fileActionOK, "File deleted.")
    }

    func renameFrom(_ argument: String) {
        guard requireWritable(), let entry = entry(argument) else { return }
        do {
            guard try entry.status() != nil else { return refuse(errno: ENOENT, "RNFR") }
        } catch {
            return refuse(error)
        }
        renameSource = entry
        reply(ReplyCode.pendingFurtherInformation, "Ready for RNTO.")
    }

    func renameTo(_ argument: String, source: ConfinedEntry?) {
        guard let source else { return reply(ReplyCode.badSequence, "Send RNFR first.") }
        guard requireWritable(), let target = entry(argument) else { return }
        do { try source.rename(to: target) } catch { return refuse(error) }
        logger.notice("rename", metadata: ["from": "\(source.path)", "to": "\(target.path)"])
        reply(ReplyCode.fileActionOK, "Rename successful.")
    }

    func size(_ argument: String) {
        guard let (_, facts) = existing(argument) else { return }
        guard facts.kind == .file else { return reply(ReplyCode.fileUnavailable, "Not a regular file.") }
        reply(ReplyCode.fileStatus, "\(facts.size)")
    }

    func modificationTime(_ argument: String) {
        guard let (_, facts) = existing(argument) else { return }
        reply(ReplyCode.fileStatus, facts.timestamp)
    }
}
