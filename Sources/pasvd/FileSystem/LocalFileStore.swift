import Foundation
import FTPServerKit
import Posix
import FTPCore

/// The files of one session on this machine, confined by the kernel to the session's root (`ConfinedRoot`).
final class LocalFileStore: FileStore {
    let root: ConfinedRoot
    /// Whether uploads appear under their name when complete (`SafeUpload`) or from the first byte (`InPlaceUpload`).
    let uploadVisibility: UploadVisibility

    init(root: ConfinedRoot, uploadVisibility: UploadVisibility) {
        self.root = root
        self.uploadVisibility = uploadVisibility
    }

    func facts(_ path: VirtualPath) throws(FileStoreError) -> FileFacts {
        try LocalFileStore.mapped { () throws(PathError) in try root.facts(path) }
    }

    func listing(_ path: VirtualPath) throws(FileStoreError) -> [(name: String, facts: FileFacts)] {
        try LocalFileStore.mapped { () throws(PathError) in try root.listing(path) }
    }

    func enter(_ path: VirtualPath) throws(FileStoreError) {
        try LocalFileStore.mapped { () throws(PathError) in try root.enterable(path) }
    }

    func makeDirectory(_ path: VirtualPath) throws(FileStoreError) {
        let entry = try entry(path)
        try FileStoreError.system { () throws(PosixError) in try entry.makeDirectory() }
    }

    func removeDirectory(_ path: VirtualPath) throws(FileStoreError) {
        let entry = try entry(path)
        try FileStoreError.system { () throws(PosixError) in try entry.remove(directory: true) }
    }

    func removeFile(_ path: VirtualPath) throws(FileStoreError) {
        let entry = try entry(path)
        guard let info = try FileStoreError.system({ () throws(PosixError) in try entry.status() }) else {
            throw .system(PosixError("DELE", code: ENOENT))
        }
        guard info.st_mode & S_IFMT != S_IFDIR else { throw .isDirectory }
        try FileStoreError.system { () throws(PosixError) in try entry.remove(directory: false) }
    }

    /// The source's parent stays open until RNTO, so the rename acts on the entry RNFR checked.
    func renameSource(_ path: VirtualPath) throws(FileStoreError) -> AnyObject {
        let entry = try entry(path)
        guard try FileStoreError.system({ () throws(PosixError) in try entry.status() }) != nil else {
            throw .system(PosixError("RNFR", code: ENOENT))
        }
        return entry
    }

    func rename(_ source: AnyObject, to target: VirtualPath) throws(FileStoreError) {
        guard let source = source as? ConfinedEntry else { throw .system(PosixError("RNTO", code: EINVAL)) }
        let destination = try entry(target)
        try FileStoreError.system { () throws(PosixError) in try source.rename(to: destination) }
    }

    func download(_ path: VirtualPath) throws(FileStoreError) -> FileDownload {
        // O_NONBLOCK: opening a FIFO must not hang the session; it is refused below like any non-regular file.
        let file = try LocalFileStore.mapped { () throws(PathError) in try root.open(path, flags: O_RDONLY | O_NONBLOCK) }
        let info = try FileStoreError.system { () throws(PosixError) in try PosixFile.status(file.fd) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .notRegularFile }
        return LocalDownload(file: file, size: Int64(info.st_size))
    }

    func upload(_ path: VirtualPath, mode: UploadMode, deadline: Double) throws(FileStoreError) -> FileUpload {
        switch uploadVisibility {
        case .atomic: return try SafeUpload(target: try entry(path), mode: mode, lockDeadline: deadline)
        case .immediate: return try InPlaceUpload(target: try entry(path), mode: mode, lockDeadline: deadline)
        }
    }

    /// SITE CHMOD: permission bits only; setuid, setgid and sticky bits are never set over FTP.
    func setPermissions(_ path: VirtualPath, mode: UInt32) throws(FileStoreError) {
        guard mode & ~0o777 == 0 else { throw .system(PosixError("SITE CHMOD", code: EPERM)) }
        let file = try openFileOrDirectory(path)
        try FileStoreError.system { () throws(PosixError) in try PosixFile.changeMode(file.fd, mode_t(mode)) }
    }

    /// MFMT: the modification time of a file or directory the session's account owns (the kernel's rule).
    func setModificationTime(_ path: VirtualPath, to seconds: Int) throws(FileStoreError) {
        let file = try openFileOrDirectory(path)
        try FileStoreError.system { () throws(PosixError) in try PosixFile.setModificationTime(file.fd, seconds: seconds) }
    }

    /// A regular file or directory opened (inside the root) so that a change acts on exactly what was checked;
    /// O_NONBLOCK so that a FIFO cannot hang the session; anything else is refused.
    private func openFileOrDirectory(_ path: VirtualPath) throws(FileStoreError) -> OwnedDescriptor {
        let file = try LocalFileStore.mapped { () throws(PathError) in
            try root.open(path, flags: O_RDONLY | O_NONBLOCK | O_NOCTTY)
        }
        let info = try FileStoreError.system { () throws(PosixError) in try PosixFile.status(file.fd) }
        guard [S_IFREG, S_IFDIR].contains(info.st_mode & S_IFMT) else { throw .notRegularFile }
        return file
    }

    private func entry(_ path: VirtualPath) throws(FileStoreError) -> ConfinedEntry {
        try LocalFileStore.mapped { () throws(PathError) in try root.entry(path) }
    }

    private static func mapped<T>(_ body: () throws(PathError) -> T) throws(FileStoreError) -> T {
        do {
            return try body()
        } catch {
            throw .path(error)
        }
    }
}

/// A regular file opened for RETR, sent with sendfile(2).
final class LocalDownload: FileDownload {
    let file: OwnedDescriptor
    let size: Int64

    init(file: OwnedDescriptor, size: Int64) {
        self.file = file
        self.size = size
    }

    func send(from offset: Int64, count: Int64, over data: DataConnection) -> TransferEnd {
        data.sendFile(file.fd, offset: offset, count: count)
    }
}
