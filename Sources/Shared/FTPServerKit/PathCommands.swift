import Foundation
import Posix
import FTPCore

/// Path resolution for handlers (the store confines), and PWD CWD MKD RMD DELE RNFR RNTO SIZE MDTM.
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

    /// The facts of an existing file or directory, or nil after a 5xx reply.
    func existing(_ argument: String) -> (virtual: VirtualPath, facts: FileFacts)? {
        guard let store, let path = virtualPath(argument) else { return nil }
        do {
            return (path, try store.facts(path))
        } catch {
            refuse(error)
            return nil
        }
    }

    /// Runs a store operation; false after a 5xx reply.
    func perform(_ body: () throws(FileStoreError) -> Void) -> Bool {
        do {
            try body()
            return true
        } catch {
            refuse(error)
            return false
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

    func refuse(_ error: FileStoreError) {
        switch error {
        case .path(let failure): refuse(failure)
        case .system(let failure): refuse(failure)
        case .isDirectory: reply(ReplyCode.fileUnavailable, "Is a directory; use RMD.")
        case .notRegularFile: reply(ReplyCode.fileUnavailable, "Not a regular file.")
        case .offsetBeyondEnd: reply(ReplyCode.fileUnavailable, "Restart offset beyond end of file.")
        case .noUniqueName: reply(ReplyCode.fileNameNotAllowed, "No unique name available.")
        case .busy: reply(ReplyCode.fileUnavailableBusy, "File busy: another transfer is appending to it; try again.")
        }
    }

    func refuse(errno code: Int32, _ what: String) {
        logger.info("\(what) failed: \(PosixError.reason(for: code))")
        switch code {
        case EACCES, EPERM, EROFS: reply(ReplyCode.fileUnavailable, "Permission denied.")
        case ENOENT, ELOOP: reply(ReplyCode.fileUnavailable, "No such file or directory.")
        case EEXIST: reply(ReplyCode.fileUnavailable, "File exists.")
        case ENOTEMPTY: reply(ReplyCode.fileUnavailable, "Directory not empty.")
        case ENOTDIR: reply(ReplyCode.fileUnavailable, "Not a directory.")
        case EISDIR: reply(ReplyCode.fileUnavailable, "Is a directory.")
        case ENOSPC, EDQUOT: reply(ReplyCode.exceededStorage, code == EDQUOT ? "Quota exceeded." : "No space left.")
        case ENOTSUP: reply(ReplyCode.notImplemented, "Not supported by this server.")
        case ECONNABORTED:
            // The store's connection broke while the command ran: it may or may not have taken effect, and is
            // not repeated; the store reconnects for the next command.
            reply(ReplyCode.localError, "The connection to the file server dropped while the command was in progress: whether it took effect is unknown and it was not repeated; check and retry (the server reconnects by itself).")
        case ECONNRESET:
            // The store's connection (the SFTP bridge's SSH session) is gone: nothing else can work.
            reply(ReplyCode.serviceNotAvailable, "Connection to the file server lost; closing the session.")
            shouldClose = true
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
        guard let store, let (path, facts) = existing(argument.isEmpty ? "/" : argument) else { return }
        guard facts.kind == .directory else { return reply(ReplyCode.fileUnavailable, "Not a directory.") }
        guard perform({ () throws(FileStoreError) in try store.enter(path) }) else { return }
        cwd = path
        reply(ReplyCode.fileActionOK, "Directory changed to \(path).")
    }

    /// A path for a command that changes files, or nil after a 5xx reply (read-only session, bad path).
    private func writablePath(_ argument: String) -> (FileStore, VirtualPath)? {
        guard requireWritable(), let store, let path = virtualPath(argument) else { return nil }
        guard path.name != nil else {
            refuse(PathError.isRoot)
            return nil
        }
        return (store, path)
    }

    func makeDirectory(_ argument: String) {
        guard let (store, path) = writablePath(argument),
              perform({ () throws(FileStoreError) in try store.makeDirectory(path) }) else { return }
        logger.notice("mkdir", metadata: ["path": "\(path)"])
        reply(ReplyCode.pathCreated, "\(Session.quoted(path)) created.")
    }

    func removeDirectory(_ argument: String) {
        guard let (store, path) = writablePath(argument),
              perform({ () throws(FileStoreError) in try store.removeDirectory(path) }) else { return }
        logger.notice("rmdir", metadata: ["path": "\(path)"])
        reply(ReplyCode.fileActionOK, "Directory removed.")
    }

    func delete(_ argument: String) {
        guard let (store, path) = writablePath(argument),
              perform({ () throws(FileStoreError) in try store.removeFile(path) }) else { return }
        logger.notice("delete", metadata: ["path": "\(path)"])
        reply(ReplyCode.fileActionOK, "File deleted.")
    }

    func renameFrom(_ argument: String) {
        guard let (store, path) = writablePath(argument),
              perform({ () throws(FileStoreError) in renameSource = try store.renameSource(path) }) else { return }
        reply(ReplyCode.pendingFurtherInformation, "Ready for RNTO.")
    }

    func renameTo(_ argument: String) {
        guard let source = pendingRename else { return reply(ReplyCode.badSequence, "Send RNFR first.") }
        guard let (store, path) = writablePath(argument),
              perform({ () throws(FileStoreError) in try store.rename(source, to: path) }) else { return }
        logger.notice("rename", metadata: ["to": "\(path)"])
        reply(ReplyCode.fileActionOK, "Rename successful.")
    }

    func size(_ argument: String) {
        guard let (_, facts) = existing(argument) else { return }
        guard facts.kind == .file else { return reply(ReplyCode.fileUnavailable, "Not a regular file.") }
        reply(ReplyCode.fileStatus, "\(facts.size)")
    }

    /// SITE CHMOD mode path (when the server offers `ExtraCommand.siteChmod`); other SITE commands: 502.
    func site(_ argument: String) {
        let words = argument.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true).map(String.init)
        guard settings.extraCommands.contains(.siteChmod), words.first?.uppercased() == "CHMOD" else {
            return reply(ReplyCode.notImplemented, "SITE command not implemented.")
        }
        guard words.count == 3, words[1].count <= 4, words[1].allSatisfy({ ("0"..."7").contains($0) }),
              let mode = UInt32(words[1], radix: 8) else {
            return reply(ReplyCode.parameterSyntaxError, "Usage: SITE CHMOD <octal mode> <path>.")
        }
        guard let (store, path) = writablePath(words[2]),
              perform({ () throws(FileStoreError) in try store.setPermissions(path, mode: mode) }) else { return }
        logger.notice("chmod", metadata: ["path": "\(path)", "mode": "\(words[1])"])
        reply(ReplyCode.commandOK, "SITE CHMOD command ok.")
    }

    /// MFMT YYYYMMDDHHMMSS path (RFC draft-somers-ftp-mfxx, UTC), when the server offers `ExtraCommand.modifyTime`.
    func setModificationTime(_ argument: String) {
        guard settings.extraCommands.contains(.modifyTime) else {
            return reply(ReplyCode.notImplemented, "Command not implemented.")
        }
        let parts = argument.split(separator: " ", maxSplits: 1).map(String.init)
        guard parts.count == 2, let seconds = FileFacts.seconds(fromTimestamp: parts[0]) else {
            return reply(ReplyCode.parameterSyntaxError, "Usage: MFMT YYYYMMDDHHMMSS <path> (UTC).")
        }
        guard let (store, path) = writablePath(parts[1]),
              perform({ () throws(FileStoreError) in try store.setModificationTime(path, to: seconds) }) else { return }
        reply(ReplyCode.fileStatus, "Modify=\(parts[0]); \(path)")
    }

    func modificationTime(_ argument: String) {
        guard let (_, facts) = existing(argument) else { return }
        reply(ReplyCode.fileStatus, facts.timestamp)
    }
}
