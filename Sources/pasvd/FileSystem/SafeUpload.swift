import Foundation
import FTPServerKit
import Posix

/// An upload in progress (`--upload-visibility atomic`, the default; `InPlaceUpload` is the immediate one), such that an interrupted one never damages the previous file and never leaves
/// anything behind, even when pasvd is killed:
/// - STOR, STOU and REST+STOR write an unnamed O_TMPFILE file in the target directory (REST first copies the
///   kept prefix). Only a complete transfer gives it a name: linkat(2) straight to the final name when that is
///   free, else to a reserved name and renameat(2) over the target. A killed process leaves no file at all.
/// - APPE appends in place under an exclusive flock(2), having recorded the size; a failed transfer truncates
///   the file back to it. Concurrent APPEs to one file therefore take turns and all their bytes stay.
final class SafeUpload: FileUpload {
    /// Reserved names for the instant between linkat and renameat; `ConfinedRoot` hides them.
    static let temporaryPrefix = ".pasvd-upload."
    /// Mode of a newly created file once committed.
    static let newFileMode: mode_t = 0o644
    /// Attempts at finding a free name for STOU (`name`, `name.1`, …).
    static let uniqueNameAttempts = 1000
    /// How often a busy APPE target is tried again while another session appends to it.
    static let lockRetrySeconds = 0.02

    static func isTemporaryName(_ name: String) -> Bool { name.hasPrefix(temporaryPrefix) }

    let target: ConfinedEntry
    let mode: UploadMode
    /// The name the file will get (for STOU the first free one when the upload started).
    private(set) var finalName: String
    var announcedName: String { finalName }
    private var file: OwnedDescriptor?
    private var finalMode: mode_t = SafeUpload.newFileMode
    /// APPE: the size before this upload, and whether this upload created the file.
    private var appendStart: Int64 = 0
    private var createdForAppend = false

    /// Prepares the upload: a temporary file (with the kept prefix for a resume), or the locked APPE target.
    /// `lockDeadline` (monotonic seconds) bounds the wait for another session's APPE to the same file.
    init(target: ConfinedEntry, mode: UploadMode, lockDeadline: Double) throws(FileStoreError) {
        self.target = target
        self.mode = mode
        finalName = target.name
        switch mode {
        case .append:
            try openForAppend(lockDeadline: lockDeadline)
        case .unique:
            finalName = try freeName()
            file = try temporaryFile()
        case .replace:
            try checkTarget()
            file = try temporaryFile()
        case .resume(let offset):
            guard offset <= (try checkTarget()) else { throw .offsetBeyondEnd }
            file = try temporaryFile()
            try copyPrefix(count: offset)
        }
    }

    /// Writes bytes received from the data connection.
    func write(_ buffer: UnsafeRawBufferPointer) throws(FileStoreError) {
        guard let file else { return }
        do { try PosixFile.writeAll(file.fd, buffer) } catch { throw .system(error) }
    }

    /// Flushes the file to disk (before the final checks that precede `commit()`).
    func sync() throws(FileStoreError) {
        guard let file else { return }
        do { try PosixFile.sync(file.fd) } catch { throw .system(error) }
    }

    /// Makes the upload durable and gives it its name. Returns the final name (differs for STOU when the
    /// announced name was taken meanwhile).
    func commit() throws(FileStoreError) -> String {
        guard let file else { return finalName }
        self.file = nil  // closing releases an APPE lock and drops an unlinked temporary file
        if mode == .append { return finalName }  // already in place
        try FileStoreError.system { () throws(PosixError) in
            try PosixFile.changeMode(file.fd, finalMode)
            try PosixFile.sync(file.fd)
        }
        if mode == .unique {
            try linkUnique(file)
        } else {
            try linkReplacing(file)
        }
        syncDirectory()
        return finalName
    }

    /// Abandons the upload: a temporary file vanishes on close; an APPE target is cut back to its old size.
    func discard() {
        defer { file = nil }
        guard let file, mode == .append else { return }
        try? PosixFile.truncate(file.fd, to: appendStart)
        if createdForAppend && appendStart == 0 { try? target.remove(directory: false) }
    }

    // MARK: - Preparation

    /// The size of an existing target (0 when there is none); a target that is not a regular file is refused.
    @discardableResult
    private func checkTarget() throws(FileStoreError) -> Int64 {
        guard let info = try FileStoreError.system({ () throws(PosixError) in try target.status() }) else { return 0 }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .notRegularFile }
        finalMode = info.st_mode & 0o777
        return Int64(info.st_size)
    }

    private func temporaryFile() throws(FileStoreError) -> OwnedDescriptor {
        try FileStoreError.system { () throws(PosixError) in
            OwnedDescriptor(try PosixFile.openInRoot(target.directory.fd, ".",
                                                     flags: PosixFile.temporaryFileFlag | O_WRONLY, mode: 0o600))
        }
    }

    /// The first of `name`, `name.1`, … that does not exist (files and directories alike).
    private func freeName() throws(FileStoreError) -> String {
        for attempt in 0..<SafeUpload.uniqueNameAttempts {
            let candidate = SafeUpload.uniqueCandidate(target.name, attempt)
            let sibling = ConfinedEntry(directory: target.directory, name: candidate, path: target.path)
            if try FileStoreError.system({ () throws(PosixError) in try sibling.status() }) == nil { return candidate }
        }
        throw .noUniqueName
    }

    static func uniqueCandidate(_ name: String, _ attempt: Int) -> String { attempt == 0 ? name : "\(name).\(attempt)" }

    private func copyPrefix(count: Int64) throws(FileStoreError) {
        guard count > 0, let file else { return }
        let source = try FileStoreError.system { () throws(PosixError) in try target.open(flags: O_RDONLY) }
        var offset = off_t(0)
        while Int64(offset) < count {
            let step = Int(min(count - Int64(offset), 1 << 30))
            let result = try FileStoreError.system { () throws(PosixError) in
                try PosixFile.sendfile(file.fd, source.fd, offset: &offset, count: step)
            }
            if result == .done(0) { throw .offsetBeyondEnd }
        }
    }

    /// Opens (or creates) the APPE target, takes its lock and records its size.
    private func openForAppend(lockDeadline: Double) throws(FileStoreError) {
        let flags = O_WRONLY | O_APPEND | O_NONBLOCK  // O_NONBLOCK: a FIFO must not hang the session
        let opened: OwnedDescriptor
        if let created = try? target.open(flags: flags | O_CREAT | O_EXCL, mode: SafeUpload.newFileMode) {
            opened = created
            createdForAppend = true
        } else {
            opened = try FileStoreError.system { () throws(PosixError) in try target.open(flags: flags) }
        }
        let info = try FileStoreError.system { () throws(PosixError) in try PosixFile.status(opened.fd) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .notRegularFile }
        PosixSocket.setNonBlocking(opened.fd, false)
        try SafeUpload.lockExclusive(opened.fd, deadline: lockDeadline)
        appendStart = try FileStoreError.system { () throws(PosixError) in try PosixFile.seekToEnd(opened.fd) }
        file = opened
    }

    /// Takes the file's exclusive flock(2), retrying while another upload holds it, until `deadline` (monotonic
    /// seconds); then `.busy`.
    static func lockExclusive(_ fd: Int32, deadline: Double) throws(FileStoreError) {
        while try !FileStoreError.system({ () throws(PosixError) in try PosixFile.tryLockExclusive(fd) }) {
            guard Monotonic.now() < deadline else { throw .busy }
            PosixClock.pause(seconds: SafeUpload.lockRetrySeconds)
        }
    }

    // MARK: - Commit

    private func linkUnique(_ file: OwnedDescriptor) throws(FileStoreError) {
        let announced = finalName
        for attempt in 0..<SafeUpload.uniqueNameAttempts {
            let candidate = attempt == 0 ? announced : SafeUpload.uniqueCandidate(target.name, attempt)
            do {
                try PosixFile.linkTemporary(file.fd, into: target.directory.fd, as: candidate)
                finalName = candidate
                return
            } catch {
                if error.code != EEXIST { throw .system(error) }
            }
        }
        throw .noUniqueName
    }

    /// linkat to the final name when it is free; otherwise to a reserved name, then renameat over the target.
    private func linkReplacing(_ file: OwnedDescriptor) throws(FileStoreError) {
        let directory = target.directory.fd
        do {
            try PosixFile.linkTemporary(file.fd, into: directory, as: target.name)
            return
        } catch {
            if error.code != EEXIST { throw .system(error) }
        }
        let reserved = SafeUpload.temporaryPrefix + String(UInt64.random(in: .min ... .max), radix: 16)
        do {
            try PosixFile.linkTemporary(file.fd, into: directory, as: reserved)
        } catch {
            throw .system(error)
        }
        do {
            try PosixFile.rename(directory, reserved, directory, target.name)
        } catch {
            try? PosixFile.remove(directory, reserved, directory: false)
            throw .system(error)
        }
    }

    private func syncDirectory() {
        guard let directory = try? PosixFile.openInRoot(target.directory.fd, ".", flags: O_RDONLY | O_DIRECTORY) else { return }
        _ = try? PosixFile.sync(directory)
        PosixDescriptor.close(directory)
    }
}

extension FileStoreError {
    /// Runs one or more system calls, a failure becoming `.system`.
    static func system<T>(_ body: () throws(PosixError) -> T) throws(FileStoreError) -> T {
        do {
            return try body()
        } catch {
            throw .system(error)
        }
    }
}
