import FTPServerKit
import Foundation
import Posix
import FTPCore

/// The files of one FTP session, served over SFTP from the SSH host. `root` (the server's canonical path of
/// SFTPRoot) is the FTP client's `/`; every `VirtualPath` is already normalised (no `..`), so requests stay
/// below it by name. It is not a jail: symlinks on the server are followed as the SSH account may anyway.
/// One thread (the FTP session's) owns the store and its SSH session. Commands that only read run again on a new
/// SSH session when theirs died under them; commands that change files never do (`SFTPLink`).
final class SFTPFileStore: FileStore {
    /// The SSH session and SFTP channel, replaced when the session dies.
    let link: SFTPLink
    let root: [UInt8]
    /// Directory entries one listing may hold (a bound on memory and on the listing's size).
    static let maximumListingEntries = 200_000

    /// Temporary upload names to clean up when a session died (shared by the bridge's sessions).
    let leftovers: UploadLeftovers
    /// `SFTPUploads`: uploads appear when complete (atomic) or are written under their name from the first byte.
    let uploadVisibility: UploadVisibility

    /// `SFTPStreams`: the most SFTP channels one upload is striped over (1: the upload's own channel only).
    let streams: Int

    init(link: SFTPLink, root: [UInt8], leftovers: UploadLeftovers, uploadVisibility: UploadVisibility, streams: Int = 1) {
        self.link = link
        self.streams = streams
        self.root = root
        self.leftovers = leftovers
        self.uploadVisibility = uploadVisibility
    }

    /// The server path of `path`.
    func remote(_ path: VirtualPath) -> [UInt8] {
        var result = root
        for component in path.components {
            if result.last != UInt8(ascii: "/") { result.append(UInt8(ascii: "/")) }
            result += PathName.bytes(component)
        }
        return result.isEmpty ? [UInt8(ascii: "/")] : result
    }

    func facts(_ path: VirtualPath) throws(FileStoreError) -> FileFacts {
        SFTPFileStore.facts(try reading { sftp in try sftp.attributes(remote(path)) })
    }

    func listing(_ path: VirtualPath) throws(FileStoreError) -> [(name: String, facts: FileFacts)] {
        let directory = remote(path)
        return try reading { sftp in
            let handle = try sftp.openDirectory(directory)
            defer { handle.close() }
            var entries: [(name: String, facts: FileFacts)] = []
            while let (name, attributes) = try handle.nextEntry() {
                if name == [UInt8(ascii: ".")] || name == [UInt8(ascii: "."), UInt8(ascii: ".")] { continue }
                guard entries.count < SFTPFileStore.maximumListingEntries else {
                    throw FileStoreError.system(PosixError("list (more than \(SFTPFileStore.maximumListingEntries) entries)", code: E2BIG))
                }
                var shown = attributes
                if attributes.kind == .symlink {
                    // Listings show what a link points to (as stat(2) does); a dangling link shows as itself.
                    shown = (try? sftp.attributes(directory + [UInt8(ascii: "/")] + name)) ?? attributes
                }
                entries.append((PathName.decode(name), SFTPFileStore.facts(shown)))
            }
            return entries.sorted { $0.name < $1.name }
        }
    }

    /// CWD: the directory must be readable (opendir), so a later LIST does not fail where CWD succeeded.
    func enter(_ path: VirtualPath) throws(FileStoreError) {
        try reading { sftp in try sftp.openDirectory(remote(path)).close() }
    }

    func makeDirectory(_ path: VirtualPath) throws(FileStoreError) {
        try changing { sftp in try sftp.makeDirectory(remote(path)) }
    }

    func removeDirectory(_ path: VirtualPath) throws(FileStoreError) {
        try changing { sftp in try sftp.removeDirectory(remote(path)) }
    }

    func removeFile(_ path: VirtualPath) throws(FileStoreError) {
        let target = remote(path)
        let attributes = try reading { sftp in try sftp.attributes(target, followLinks: false) }
        guard attributes.kind != .directory else { throw .isDirectory }
        try changing { sftp in try sftp.removeFile(target) }
    }

    /// The source path, checked to exist (SFTP has no handle on a name: RNTO renames whatever is there then).
    final class RenameSource { let path: [UInt8]; init(_ path: [UInt8]) { self.path = path } }

    func renameSource(_ path: VirtualPath) throws(FileStoreError) -> AnyObject {
        let source = remote(path)
        _ = try reading { sftp in try sftp.attributes(source, followLinks: false) }
        return RenameSource(source)
    }

    /// An existing regular file is replaced as rename(2) would, atomically with posix-rename@openssh.com
    /// (`renameReplacing`); SFTP v3's rename refuses an existing target, so without the extension it is removed
    /// first. A directory is never replaced.
    func rename(_ source: AnyObject, to target: VirtualPath) throws(FileStoreError) {
        guard let source = source as? RenameSource else { throw .system(PosixError("RNTO", code: EINVAL)) }
        let destination = remote(target)
        try changing { sftp in
            if let existing = try? sftp.attributes(destination, followLinks: false), destination != source.path {
                guard existing.kind != .directory else { throw FileStoreError.system(PosixError("RNTO", code: EEXIST)) }
                if try link.renameReplacing(source.path, to: destination, beside: sftp, startingOne: true) { return }
                try sftp.removeFile(destination)
            }
            try sftp.rename(source.path, to: destination)
        }
    }

    func download(_ path: VirtualPath) throws(FileStoreError) -> FileDownload {
        try reading { sftp in
            let handle = try sftp.openFile(remote(path), flags: .read)
            let attributes = try handle.attributes()
            guard attributes.kind == .file else {
                throw attributes.kind == .directory ? FileStoreError.isDirectory : FileStoreError.notRegularFile
            }
            return SFTPDownload(handle: handle, size: Int64(clamping: attributes.size ?? 0), modified: attributes.modified, spares: link)
        }
    }

    func upload(_ path: VirtualPath, mode: UploadMode, deadline: Double) throws(FileStoreError) -> FileUpload {
        // Not repeated: STOU's exclusive create or the temporary name may already exist on the server.
        try changing { sftp in
            try SFTPUpload.prepare(sftp: sftp, reopen: { [unowned self] in reopenChannel() }, target: remote(path),
                                   name: path.name ?? "", mode: mode, leftovers: leftovers, visibility: uploadVisibility,
                                   streams: streams, spares: link)
        }
    }

    /// A fresh SFTP channel on the same SSH session in place of the current one (after a failed write left it out of
    /// step); nil when the SSH session itself is gone (the link replaces it at the next command) or the server
    /// refuses the channel.
    func reopenChannel() -> SFTPSession? {
        link.reopenChannel()
    }

    func setPermissions(_ path: VirtualPath, mode: UInt32) throws(FileStoreError) {
        try changing { sftp in try sftp.setAttributes(remote(path), permissions: mode & 0o7777) }
    }

    func setModificationTime(_ path: VirtualPath, to seconds: Int) throws(FileStoreError) {
        try changing { sftp in try sftp.setAttributes(remote(path), modified: seconds) }
    }

    static func facts(_ attributes: SFTPAttributes) -> FileFacts {
        let kind: FileFacts.Kind
        switch attributes.kind {
        case .file: kind = .file
        case .directory: kind = .directory
        case .symlink, .other: kind = .other
        }
        return FileFacts(kind: kind, size: Int64(clamping: attributes.size ?? 0), modified: attributes.modified ?? 0,
                         mode: (attributes.permissions ?? 0) & 0o7777)
    }

    var idleWatch: IdleWatch? { link }

    /// Runs SFTP calls that only read: again on a new SSH session when the connection broke during them.
    func reading<T>(_ body: (SFTPSession) throws -> T) throws(FileStoreError) -> T {
        try link.run(repeatable: true) { sftp throws(FileStoreError) in try mapped { try body(sftp) } }
    }

    /// Runs SFTP calls that change files: never again when the connection broke during them (451).
    func changing<T>(_ body: (SFTPSession) throws -> T) throws(FileStoreError) -> T {
        try link.run(repeatable: false) { sftp throws(FileStoreError) in try mapped { try body(sftp) } }
    }

    /// Runs SFTP calls, turning an `SFTPFailure` into the errno the engine replies with.
    func mapped<T>(_ body: () throws -> T) throws(FileStoreError) -> T {
        do {
            return try body()
        } catch let error as FileStoreError {
            throw error
        } catch let failure as SFTPFailure {
            throw SFTPFileStore.storeError(failure)
        } catch {
            throw .system(PosixError("\(error)", code: EIO))
        }
    }

    /// A lost connection is `ECONNABORTED`: whatever was in progress gets 426/451 and the link reconnects.
    static func storeError(_ failure: SFTPFailure) -> FileStoreError {
        .system(PosixError(failure.description, code: failure.isConnectionLost ? ECONNABORTED : failure.errnoEquivalent))
    }
}
