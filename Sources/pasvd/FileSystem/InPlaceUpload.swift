import Foundation
import FTPServerKit
import Posix

/// An upload written under its own name from the first byte (`--upload-visibility immediate`), as vsftpd and
/// ProFTPD do by default: a LIST during the upload shows the file growing, which curlftpfs relies on.
/// - The target is opened without following a final symlink (O_NOFOLLOW inside the confined root), with
///   O_NONBLOCK so that a FIFO cannot hang the session; anything but a regular file is refused.
/// - Nothing is truncated before this upload holds the file's exclusive flock(2) (waited for up to the data
///   deadline, as APPE does), so two uploads to one file take turns.
/// - STOR cuts the file at 0 and REST n + STOR at n when the first byte arrives (an empty upload: when it
///   completes), then writes in place; the end of the upload is the end of the file. APPE writes at the size the
///   file had once locked. STOU creates a free name exclusively.
/// - A failed or cut upload leaves the bytes that arrived (vsftpd does the same): STOR the received prefix,
///   REST+STOR the kept prefix plus the received bytes, APPE the old file plus them. One that received no byte
///   leaves an existing file untouched and removes a file it created.
final class InPlaceUpload: FileUpload {
    let mode: UploadMode
    /// The file being written (for STOU the free name chosen).
    private(set) var placed: ConfinedEntry
    var announcedName: String { placed.name }
    private var file: OwnedDescriptor?
    /// Where this upload's bytes start: 0, the REST offset, or the APPE size.
    private var start: Int64 = 0
    private var written: Int64 = 0
    private var created = false
    /// The file was cut at `start` (STOR and REST+STOR, at the first byte).
    private var cutAtStart = false

    /// Opens (or creates) the target and takes its lock; `lockDeadline` (monotonic seconds) bounds the wait for
    /// another upload to the same file.
    init(target: ConfinedEntry, mode: UploadMode, lockDeadline: Double) throws(FileStoreError) {
        self.mode = mode
        placed = target
        do {
            try prepare(lockDeadline: lockDeadline)
        } catch {
            removeIfCreatedAndEmpty()
            file = nil
            throw error
        }
    }

    func write(_ buffer: UnsafeRawBufferPointer) throws(FileStoreError) {
        guard let file else { return }
        try FileStoreError.system { () throws(PosixError) in
            if !cutAtStart {
                try PosixFile.truncate(file.fd, to: start)
                cutAtStart = true
            }
            try PosixFile.writeAll(file.fd, buffer)
        }
        written += Int64(buffer.count)
    }

    /// Cuts the file at the end of the upload (STOR, REST+STOR) and flushes it to disk.
    func sync() throws(FileStoreError) {
        guard let file else { return }
        try FileStoreError.system { () throws(PosixError) in
            if mode != .append {
                try PosixFile.truncate(file.fd, to: start + written)
                cutAtStart = true
            }
            try PosixFile.sync(file.fd)
        }
    }

    /// The file is in place already; closing releases the lock.
    func commit() throws(FileStoreError) -> String {
        file = nil
        return placed.name
    }

    /// The bytes that arrived stay; an upload that received none removes a file it created.
    func discard() {
        if written == 0 { removeIfCreatedAndEmpty() }
        file = nil
    }

    // MARK: - Preparation

    private func prepare(lockDeadline: Double) throws(FileStoreError) {
        if mode == .unique {
            try createUnique()
        } else {
            try openOrCreate()
        }
        guard let file else { return }
        try SafeUpload.lockExclusive(file.fd, deadline: lockDeadline)
        let size = Int64(try FileStoreError.system { () throws(PosixError) in try PosixFile.status(file.fd) }.st_size)
        switch mode {
        case .replace, .unique:
            start = 0
        case .resume(let offset):
            guard offset <= size else { throw .offsetBeyondEnd }
            start = offset
        case .append:
            start = size
        }
        try FileStoreError.system { () throws(PosixError) in try PosixFile.seek(file.fd, to: start) }
    }

    /// The existing regular file (never a symlink, FIFO or device), or a new one.
    private func openOrCreate() throws(FileStoreError) {
        let flags = O_WRONLY | O_NONBLOCK | O_NOCTTY
        if let info = try FileStoreError.system({ () throws(PosixError) in try placed.status() }),
           info.st_mode & S_IFMT != S_IFREG {
            throw .notRegularFile
        }
        let opened: OwnedDescriptor
        var created = true
        do {
            opened = try placed.open(flags: flags | O_CREAT | O_EXCL, mode: SafeUpload.newFileMode)
        } catch where error.code == EEXIST {
            opened = try FileStoreError.system { () throws(PosixError) in try placed.open(flags: flags) }
            created = false
        } catch where error.code == ELOOP {
            throw .notRegularFile  // a symlink appeared under the name
        } catch {
            throw .system(error)
        }
        try adopt(opened, created: created)
    }

    /// STOU: the first of `name`, `name.1`, … that can be created exclusively.
    private func createUnique() throws(FileStoreError) {
        let target = placed
        for attempt in 0..<SafeUpload.uniqueNameAttempts {
            let candidate = ConfinedEntry(directory: target.directory, name: SafeUpload.uniqueCandidate(target.name, attempt),
                                          path: target.path)
            let opened: OwnedDescriptor
            do {
                opened = try candidate.open(flags: O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CREAT | O_EXCL,
                                            mode: SafeUpload.newFileMode)
            } catch where error.code == EEXIST || error.code == ELOOP {
                continue
            } catch {
                throw .system(error)
            }
            placed = candidate
            return try adopt(opened, created: true)
        }
        throw .noUniqueName
    }

    private func adopt(_ opened: OwnedDescriptor, created: Bool) throws(FileStoreError) {
        file = opened
        self.created = created
        let info = try FileStoreError.system { () throws(PosixError) in try PosixFile.status(opened.fd) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .notRegularFile }
        if created {
            // The mode the atomic path gives a new file, whatever the umask.
            try FileStoreError.system { () throws(PosixError) in try PosixFile.changeMode(opened.fd, SafeUpload.newFileMode) }
        }
        PosixSocket.setNonBlocking(opened.fd, false)
    }

    /// Removes the file this upload created when the name still refers to it and it is empty.
    private func removeIfCreatedAndEmpty() {
        guard created, let file, let mine = try? PosixFile.status(file.fd), mine.st_size == 0,
              let named = try? placed.status(), named.st_ino == mine.st_ino, named.st_dev == mine.st_dev else { return }
        try? placed.remove(directory: false)
    }
}
