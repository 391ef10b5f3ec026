import Glibc
import Posix

/// What the FTP engine asks of the files it serves. The engine never touches a file itself: pasvd's local,
/// kernel-confined store is one implementation; a store backed by SFTP is another. Paths are `VirtualPath`s,
/// already normalised (no `.`, `..` or empty components); confining them is the store's job.
public protocol FileStore: AnyObject {
    /// Facts of an existing file or directory (symlinks followed).
    func facts(_ path: VirtualPath) throws(FileStoreError) -> FileFacts
    /// The entries of a directory, sorted by name, with their facts.
    func listing(_ path: VirtualPath) throws(FileStoreError) -> [(name: String, facts: FileFacts)]
    /// Succeeds when the session may make `path` its current directory.
    func enter(_ path: VirtualPath) throws(FileStoreError)
    func makeDirectory(_ path: VirtualPath) throws(FileStoreError)
    func removeDirectory(_ path: VirtualPath) throws(FileStoreError)
    /// Removes a file (not a directory: `.isDirectory`).
    func removeFile(_ path: VirtualPath) throws(FileStoreError)
    /// Checks and holds the source of a rename (RNFR) until `rename(_:to:)` (RNTO).
    func renameSource(_ path: VirtualPath) throws(FileStoreError) -> AnyObject
    func rename(_ source: AnyObject, to target: VirtualPath) throws(FileStoreError)
    /// A regular file opened for RETR.
    func download(_ path: VirtualPath) throws(FileStoreError) -> FileDownload
    /// An upload prepared for STOR/APPE/STOU; `deadline` (monotonic seconds) bounds any wait for a lock.
    func upload(_ path: VirtualPath, mode: UploadMode, deadline: Double) throws(FileStoreError) -> FileUpload
    /// SITE CHMOD (only called when the server offers `ExtraCommand.siteChmod`).
    func setPermissions(_ path: VirtualPath, mode: UInt32) throws(FileStoreError)
    /// MFMT (only called when the server offers `ExtraCommand.modifyTime`); seconds since the epoch.
    func setModificationTime(_ path: VirtualPath, to seconds: Int) throws(FileStoreError)
    /// Work between commands (see `IdleWatch`); nil for a store that needs none.
    var idleWatch: IdleWatch? { get }
}

extension FileStore {
    public var idleWatch: IdleWatch? { nil }

    public func setPermissions(_ path: VirtualPath, mode: UInt32) throws(FileStoreError) {
        throw .system(PosixError("SITE CHMOD", code: ENOTSUP))
    }

    public func setModificationTime(_ path: VirtualPath, to seconds: Int) throws(FileStoreError) {
        throw .system(PosixError("MFMT", code: ENOTSUP))
    }
}

/// How an upload treats an existing file.
public enum UploadMode: Equatable, Sendable {
    /// STOR: replace (or create) the target, atomically on success.
    case replace
    /// STOR after REST n: keep the target's first n bytes, then the uploaded ones.
    case resume(offset: Int64)
    /// APPE: keep the whole target, then the uploaded bytes.
    case append
    /// STOU: a new file under a free name derived from the given one.
    case unique
}

/// A file being downloaded.
public protocol FileDownload: AnyObject {
    var size: Int64 { get }
    /// Sends `count` bytes from `offset` over `data` (a local store uses sendfile(2) through `sendFile`).
    func send(from offset: Int64, count: Int64, over data: DataConnection) -> TransferEnd
}

/// A file being uploaded. With `UploadVisibility.atomic` nothing is visible under its name until `commit()`;
/// with `.immediate` the bytes are written under it as they arrive.
public protocol FileUpload: AnyObject {
    /// The name announced in the 150 reply (STOU's chosen name).
    var announcedName: String { get }
    func write(_ buffer: UnsafeRawBufferPointer) throws(FileStoreError)
    /// Makes the received bytes durable (before the final checks that precede `commit()`).
    func sync() throws(FileStoreError)
    /// Puts the file in place; returns its final name.
    func commit() throws(FileStoreError) -> String
    /// Abandons the upload: atomic, the previous file stays as it was; immediate, the bytes that arrived stay.
    func discard()
}

/// Why a store refused. `system` carries an errno value (stores that are not local map their own codes to the
/// closest one), which the engine turns into a reply.
public enum FileStoreError: Error, CustomStringConvertible {
    case path(PathError)
    case system(PosixError)
    case isDirectory
    case notRegularFile
    case offsetBeyondEnd
    case noUniqueName
    /// Another transfer holds the file (APPE; any upload with immediate visibility) for the whole wait.
    case busy

    public var description: String {
        switch self {
        case .path(let error): return error.description
        case .system(let error): return error.description
        case .isDirectory: return "is a directory"
        case .notRegularFile: return "not a regular file"
        case .offsetBeyondEnd: return "restart offset is beyond the end of the file"
        case .noUniqueName: return "no unique file name available"
        case .busy: return "another session is uploading to the file"
        }
    }
}
