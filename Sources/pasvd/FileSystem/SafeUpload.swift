import Foundation

/// An upload in progress: bytes go to a hidden temporary file (mode 0600, O_EXCL) in the target directory,
/// which replaces the target by rename(2) only after the whole transfer succeeded. Until then the
/// previous file is untouched; `discard()` removes the temporary file.
final class SafeUpload {
    /// Temporary files start with this prefix; `SessionRoot` hides such names from listings and commands.
    static let temporaryPrefix = ".pasvd-upload."
    /// Mode of a newly created file once committed.
    static let newFileMode: mode_t = 0o644
    /// Attempts at finding a free unique name for STOU.
    static let uniqueNameAttempts = 1000

    enum Mode: Equatable {
        /// STOR: replace (or create) the target.
        case replace
        /// STOR after REST n: keep the target's first n bytes, then the uploaded ones.
        case resume(offset: Int64)
        /// APPE: keep the whole target, then the uploaded bytes.
        case append
        /// STOU: create a new file whose name is chosen at commit time.
        case unique
    }

    static func isTemporaryName(_ name: String) -> Bool { name.hasPrefix(temporaryPrefix) }

    let target: HostEntry
    let mode: Mode
    /// Bytes already in the temporary file from the previous content (resume / append).
    private(set) var initialBytes: Int64 = 0
    private let directoryFD: Int32
    private var fileFD: Int32
    private let temporaryName: String
    private var finalMode: mode_t = SafeUpload.newFileMode

    /// Creates the temporary file and copies the kept part of the previous content into it.
    init(target: HostEntry, mode: Mode) throws(UploadError) {
        self.target = target
        self.mode = mode
        directoryFD = open(target.directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard directoryFD >= 0 else { throw .system(errno, "open directory") }
        var name = ""
        var fd: Int32 = -1
        for _ in 0..<8 {
            name = SafeUpload.temporaryPrefix + String(UInt64.random(in: .min ... .max), radix: 16)
            fd = openat(directoryFD, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if fd >= 0 || errno != EEXIST { break }
        }
        guard fd >= 0 else {
            let code = errno
            close(directoryFD)
            throw .system(code, "create temporary file")
        }
        temporaryName = name
        fileFD = fd
        do throws(UploadError) {
            try prepare()
        } catch {
            discard()
            throw error
        }
    }

    /// Appends bytes received from the data connection.
    func write(_ buffer: UnsafeRawBufferPointer) throws(UploadError) {
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(fileFD, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw .system(errno, "write")
            }
            offset += n
        }
    }

    /// Flushes the temporary file to disk (before the final checks that precede `commit()`).
    func sync() throws(UploadError) {
        guard fsync(fileFD) == 0 else { throw .system(errno, "fsync") }
    }

    /// Makes the upload durable and moves it into place. Returns the final name (differs for STOU).
    func commit() throws(UploadError) -> String {
        defer { closeAll() }
        guard fchmod(fileFD, finalMode) == 0 else { throw failAndRemove(errno, "chmod") }
        guard fsync(fileFD) == 0 else { throw failAndRemove(errno, "fsync") }
        var finalName = target.name
        if mode == .unique {
            var placed = false
            for attempt in 0..<SafeUpload.uniqueNameAttempts {
                finalName = attempt == 0 ? target.name : "\(target.name).\(attempt)"
                if linkat(directoryFD, temporaryName, directoryFD, finalName, 0) == 0 { placed = true; break }
                if errno != EEXIST { throw failAndRemove(errno, "link") }
            }
            unlinkat(directoryFD, temporaryName, 0)
            guard placed else { throw .noUniqueName }
        } else if renameat(directoryFD, temporaryName, directoryFD, target.name) != 0 {
            throw failAndRemove(errno, "rename")
        }
        fsync(directoryFD)
        return finalName
    }

    /// Abandons the upload: the temporary file is removed, the target stays as it was.
    func discard() {
        if fileFD >= 0 { unlinkat(directoryFD, temporaryName, 0) }
        closeAll()
    }

    private func failAndRemove(_ code: Int32, _ operation: String) -> UploadError {
        unlinkat(directoryFD, temporaryName, 0)
        return .system(code, operation)
    }

    private func closeAll() {
        if fileFD >= 0 { close(fileFD); fileFD = -1 }
        if directoryFD >= 0 { close(directoryFD) }
    }

    /// Checks the existing target and copies the part of it that is kept.
    private func prepare() throws(UploadError) {
        var info = stat()
        let exists = fstatat(directoryFD, target.name, &info, AT_SYMLINK_NOFOLLOW) == 0
        if exists {
            guard info.st_mode & S_IFMT == S_IFREG else { throw .notRegularFile }
            finalMode = info.st_mode & 0o777
        }
        let keep: Int64
        switch mode {
        case .replace, .unique: return
        case .append: keep = exists ? Int64(info.st_size) : 0
        case .resume(let offset):
            guard offset <= (exists ? Int64(info.st_size) : 0) else { throw .offsetBeyondEnd }
            keep = offset
        }
        guard keep > 0 else { return }
        let source = openat(directoryFD, target.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard source >= 0 else { throw .system(errno, "open") }
        defer { close(source) }
        var copied: Int64 = 0
        var sourceOffset = off_t(0)
        while copied < keep {
            let n = sendfile(fileFD, source, &sourceOffset, Int(min(keep - copied, 1 << 30)))
            if n < 0 {
                if errno == EINTR { continue }
                throw .system(errno, "copy")
            }
            if n == 0 { throw .offsetBeyondEnd }
            copied += Int64(n)
        }
        initialBytes = keep
    }
}

enum UploadError: Error, CustomStringConvertible {
    case system(Int32, String)
    case notRegularFile
    case offsetBeyondEnd
    case noUniqueName

    var description: String {
        switch self {
        case .system(let code, let operation): return "\(operation) failed: \(String(cString: strerror(code)))"
        case .notRegularFile: return "target is not a regular file"
        case .offsetBeyondEnd: return "restart offset is beyond the end of the file"
        case .noUniqueName: return "no unique file name available"
        }
    }
}
