import FTPServerKit
import Foundation
import Posix
import FTPCore

/// An upload over SFTP. STOR writes a temporary file in the target directory and renames it into place on
/// commit (an existing target replaced in one step by posix-rename@openssh.com, `renameReplacing`; remove-then-rename
/// where the server lacks it, as SFTP v3's rename refuses an existing target), or with `SFTPUploads immediate` writes
/// the target itself in place from offset 0 (created if missing, never truncated before the end); REST+STOR writes in place from the
/// offset (no truncation until commit, which cuts the file at the end of the upload); APPE writes at the size
/// the file had (libssh2's APPEND flag writes at offset 0 on OpenSSH); STOU creates a fresh name exclusively.
/// Writes are pipelined: up to `inFlight` bytes are sent before the first acknowledgement is awaited. With
/// `SFTPStreams` above 1 the bytes go through `SFTPStripedWriter` (several channels, disjoint ranges of the same
/// file; not with `SFTPUploads immediate`, whose file grows as a prefix under its name); `written` is then the
/// acknowledged prefix, and a failed REST+STOR is cut there when later ranges may have arrived (so a resume never
/// starts after a hole); when the SSH session died, the next one of the FTP session cuts it (`SFTPLink`).
/// A failed upload (`discard`): atomic, the previous file stays as it was; immediate, the acknowledged bytes stay
/// (STOR and REST+STOR cut there; APPE and STOU keep them) and one that received none leaves an existing file
/// as it was (a file it created and left empty is removed). SFTP v3 has no locks: unlike pasvd, two bridge
/// uploads to one file do not take turns.
final class SFTPUpload: FileUpload {
    /// Bytes kept as requests in flight (libssh2 sends the whole buffer at once, 30000-byte requests).
    static let inFlight = 2 << 20
    /// Temporary names start with this (plus random hex and the target name's first bytes).
    static let temporaryPrefix = ".ftptunnel-upload-"
    /// STOU tries `name`, `name.1` … `name.N`.
    static let uniqueAttempts = 100

    enum Placement {
        /// Written under `temporary` (journaled in `UploadLeftovers`), renamed to `target` on commit;
        /// `permissions` of the replaced file kept; `replacing`: the target existed when the upload began.
        case replace(temporary: UploadLeftovers.Entry, permissions: UInt32?, replacing: Bool)
        /// Written in place from `offset`; the file is cut at the end of the upload on commit.
        case inPlace(offset: Int64)
        /// Written in place at the end; on discard the file is cut back to `originalSize`.
        case append(originalSize: Int64)
        /// A new file (STOU), removed on discard.
        case fresh
        /// `SFTPUploads immediate` STOR: written in place from 0, cut at the end of the upload on commit;
        /// `created` when this upload made the file.
        case immediate(created: Bool)
    }

    let sftp: SFTPSession
    /// A fresh SFTP channel on the same SSH session, installed in the store (after a failed write).
    let reopen: () -> SFTPSession?
    let leftovers: UploadLeftovers
    let handle: SFTPHandle
    let target: [UInt8]
    let placement: Placement
    let announcedName: String
    let visibility: UploadVisibility
    /// Bytes not yet acknowledged by the server: `pending[start...]`.
    private var pending: [UInt8] = []
    private var start = 0
    private var written: Int64 = 0
    private var finished = false
    /// Set when the upload is striped over several channels.
    private var striper: SFTPStripedWriter?
    /// The FTP session's kept raw channels: the final rename goes over one (`renameReplacing`).
    private weak var spares: SFTPChannelSpares?

    init(sftp: SFTPSession, reopen: @escaping () -> SFTPSession?, leftovers: UploadLeftovers, handle: SFTPHandle,
         target: [UInt8], placement: Placement, announcedName: String, visibility: UploadVisibility) {
        self.sftp = sftp
        self.reopen = reopen
        self.leftovers = leftovers
        self.handle = handle
        self.target = target
        self.placement = placement
        self.announcedName = announcedName
        self.visibility = visibility
        pending.reserveCapacity(SFTPUpload.inFlight * 2)
    }

    deinit { if !finished { discard() } }

    static func prepare(sftp: SFTPSession, reopen: @escaping () -> SFTPSession?, target: [UInt8], name: String,
                        mode: UploadMode, leftovers: UploadLeftovers, visibility: UploadVisibility,
                        streams: Int = 1, spares: SFTPChannelSpares? = nil) throws -> SFTPUpload {
        let upload = try prepareOne(sftp: sftp, reopen: reopen, target: target, name: name, mode: mode,
                                    leftovers: leftovers, visibility: visibility)
        upload.spares = spares
        // Not with SFTPUploads immediate: its file must grow as a prefix under its name (readers see it grow).
        if streams > 1, visibility != .immediate { upload.stripe(maximum: streams, spares: spares) }
        return upload
    }

    /// From here on, the bytes go through up to `maximum` channels (each stripe opens the file it writes itself).
    private func stripe(maximum: Int, spares: SFTPChannelSpares?) {
        let path: [UInt8]
        let offset: Int64
        switch placement {
        case .replace(let entry, _, _): (path, offset) = (entry.temporary, 0)
        case .inPlace(let start): (path, offset) = (target, start)
        case .append(let size): (path, offset) = (target, size)
        case .fresh, .immediate: (path, offset) = (target, 0)
        }
        striper = SFTPStripedWriter(channel: sftp, handle: handle, path: path, offset: offset, maximum: maximum, spares: spares)
    }

    private static func prepareOne(sftp: SFTPSession, reopen: @escaping () -> SFTPSession?, target: [UInt8], name: String,
                                   mode: UploadMode, leftovers: UploadLeftovers, visibility: UploadVisibility) throws -> SFTPUpload {
        if case .replace = mode, visibility == .atomic {
            return try prepareReplace(sftp: sftp, reopen: reopen, target: target, name: name, leftovers: leftovers)
        }
        let existing = try? sftp.attributes(target)
        if existing?.kind == .directory { throw FileStoreError.isDirectory }
        func upload(_ handle: SFTPHandle, _ placement: Placement, target: [UInt8] = target, name: String = name) -> SFTPUpload {
            SFTPUpload(sftp: sftp, reopen: reopen, leftovers: leftovers, handle: handle, target: target,
                       placement: placement, announcedName: name, visibility: visibility)
        }
        switch mode {
        case .replace where visibility == .immediate:
            // Never through a final symlink (the name itself must be a regular file or absent).
            let own = try? sftp.attributes(target, followLinks: false)
            if let own, own.kind != .file { throw FileStoreError.notRegularFile }
            if own == nil, let created = try? sftp.openFile(target, flags: [.write, .create, .exclusive], mode: 0o644) {
                return upload(created, .immediate(created: true))
            }
            return upload(try sftp.openFile(target, flags: .write), .immediate(created: false))
        case .replace:
            preconditionFailure("an atomic STOR is prepared by prepareReplace")
        case .resume(let offset):
            guard let existing, existing.kind == .file else { throw FileStoreError.system(PosixError("REST+STOR", code: ENOENT)) }
            guard offset <= Int64(clamping: existing.size ?? 0) else { throw FileStoreError.offsetBeyondEnd }
            let handle = try sftp.openFile(target, flags: .write)
            handle.seek(to: offset)
            return upload(handle, .inPlace(offset: offset))
        case .append:
            if let existing, existing.kind != .file { throw FileStoreError.notRegularFile }
            let size = Int64(clamping: existing?.size ?? 0)
            let handle = try sftp.openFile(target, flags: [.write, .create])
            handle.seek(to: size)
            return upload(handle, .append(originalSize: size))
        case .unique:
            for attempt in 0..<uniqueAttempts {
                let candidate = attempt == 0 ? target : target + Array(".\(attempt)".utf8)
                guard (try? sftp.attributes(candidate, followLinks: false)) == nil else { continue }
                do {
                    let handle = try sftp.openFile(candidate, flags: [.write, .create, .exclusive])
                    let chosen = attempt == 0 ? name : "\(name).\(attempt)"
                    return upload(handle, .fresh, target: candidate, name: chosen)
                } catch let failure as SFTPFailure where failure.isGenericFailure || failure.errnoEquivalent == EEXIST {
                    continue  // taken in the meantime
                }
            }
            throw FileStoreError.noUniqueName
        }
    }

    /// STOR with `SFTPUploads atomic`: a fresh temporary name beside the target, created exclusively while the
    /// target is looked at in the same round trip (`SFTPSession.attributes(_:whileOpening:)`); a target that is a
    /// directory or not a regular file is refused and the temporary removed again.
    private static func prepareReplace(sftp: SFTPSession, reopen: @escaping () -> SFTPSession?, target: [UInt8], name: String,
                                       leftovers: UploadLeftovers) throws -> SFTPUpload {
        let token = randomHex()
        let temporary = parent(of: target) + Array((temporaryPrefix + token + ".").utf8)
            + Array(PathName.bytes(name).prefix(VirtualPath.maximumNameLength - 60))
        let entry = leftovers.begin(temporary, token: token)
        let looked: (attributes: Result<SFTPAttributes, SFTPFailure>, handle: SFTPHandle)
        do {
            looked = try sftp.attributes(target, whileOpening: temporary, flags: [.write, .create, .exclusive], mode: 0o644)
        } catch let failure as SFTPFailure where !failure.isConnectionLost {
            leftovers.finished(entry)  // refused by the server: nothing was created
            throw failure
        } catch {
            leftovers.orphaned(entry)  // the open may have created it before the connection failed
            throw error
        }
        let existing = try? looked.attributes.get()
        if let existing, existing.kind != .file {
            looked.handle.close()
            let upload = SFTPUpload(sftp: sftp, reopen: reopen, leftovers: leftovers, handle: looked.handle, target: target,
                                    placement: .replace(temporary: entry, permissions: nil, replacing: false),
                                    announcedName: name, visibility: .atomic)
            upload.discard()  // removes the temporary (or leaves it to the journal when the connection fails)
            throw existing.kind == .directory ? FileStoreError.isDirectory : FileStoreError.notRegularFile
        }
        return SFTPUpload(sftp: sftp, reopen: reopen, leftovers: leftovers, handle: looked.handle, target: target,
                          placement: .replace(temporary: entry, permissions: existing?.permissions.map { $0 & 0o7777 },
                                              replacing: existing != nil),
                          announcedName: name, visibility: .atomic)
    }

    func write(_ buffer: UnsafeRawBufferPointer) throws(FileStoreError) {
        if let striper {
            do { try striper.write(buffer) } catch { throw SFTPUpload.writeError(error) }
            return
        }
        if start > 0, start >= pending.count / 2 {
            pending.removeFirst(start)
            start = 0
        }
        pending.append(contentsOf: buffer)
        while pending.count - start >= SFTPUpload.inFlight { try flushSome() }
    }

    func sync() throws(FileStoreError) {
        var synced = false
        if let striper {
            // Striped, an extra stream syncs the file and this handle closes in the same round trip (unless the
            // file is cut at the end, which needs this handle).
            do { synced = try striper.finish(closingOwnHandle: cutOffset == nil) } catch { throw SFTPUpload.writeError(error) }
            written = striper.acknowledgedPrefix
        }
        while start < pending.count { try flushSome() }
        pending = []
        start = 0
        do {
            if !synced { _ = try handle.sync() }
            if let offset = cutOffset { try handle.setSize(UInt64(offset + written)) }
            try handle.closeChecked()
        } catch let failure as SFTPFailure {
            throw SFTPFileStore.storeError(failure)
        } catch {
            throw .system(PosixError("\(error)", code: EIO))
        }
    }

    func commit() throws(FileStoreError) -> String {
        finished = true
        guard case .replace(let entry, let permissions, let replacesExisting) = placement else { return announcedName }
        let temporary = entry.temporary
        do {
            if let permissions { try sftp.setAttributes(temporary, permissions: permissions) }
            // Atomic (posix-rename@openssh.com) when a kept channel is at hand, or, for a file that existed, on one
            // started for it.
            if try spares?.renameReplacing(temporary, to: target, beside: sftp, startingOne: replacesExisting) != true {
                // The window: between these two calls the name is missing; if the rename then fails, the old file
                // is gone and the new one is removed with its temporary name (the client gets 451).
                if (try? sftp.attributes(target, followLinks: false)) != nil { try sftp.removeFile(target) }
                try sftp.rename(temporary, to: target)
            }
            leftovers.finished(entry)
        } catch let failure as SFTPFailure {
            remove(entry, over: sftp)
            throw SFTPFileStore.storeError(failure)
        } catch {
            throw .system(PosixError("\(error)", code: EIO))
        }
        return announcedName
    }

    func discard() {
        finished = true
        var cutStripedResume = false
        if let striper {
            striper.abandon()
            written = striper.acknowledgedPrefix
            cutStripedResume = striper.wroteBeyondPrefix
        }
        handle.close()
        sftp.shutDownDesynchronized()
        let channel = sftp.isDesynchronized ? reopen() : sftp
        if case .replace(let entry, _, _) = placement {
            guard let channel else { return leftovers.orphaned(entry) }
            return remove(entry, over: channel)
        }
        guard let channel else {
            // The SSH session is gone. Striped, later ranges may have arrived after a hole: the next SSH session of
            // this FTP session cuts the file at the end of the acknowledged prefix before anything else.
            guard cutStripedResume, let spares = striper?.spares else { return }
            switch placement {
            case .inPlace(let offset): spares.cutWhenConnected(target, to: UInt64(offset + written))
            case .append(let originalSize): spares.cutWhenConnected(target, to: UInt64(originalSize + written))
            case .fresh: spares.cutWhenConnected(target, to: UInt64(written))
            case .replace, .immediate: break
            }
            return
        }
        if visibility == .immediate, written > 0 {
            // The acknowledged bytes stay, and nothing of the old file after them.
            if let offset = cutOffset { _ = try? channel.setSize(target, UInt64(offset + written)) }
            return
        }
        switch placement {
        case .replace: break
        case .fresh: if (try? channel.removeFile(target)) == nil, cutStripedResume { _ = try? channel.setSize(target, UInt64(written)) }
        case .append(let originalSize): _ = try? channel.setSize(target, UInt64(originalSize))
        case .inPlace(let offset):
            // The bytes that arrived stay: a later REST+STOR resumes after them. Striped, later ranges may have
            // arrived after a hole: the file is cut at the end of the acknowledged prefix.
            if cutStripedResume { _ = try? channel.setSize(target, UInt64(offset + written)) }
        case .immediate(let created):
            // Nothing arrived: an existing file was never touched; a file this upload created goes if still empty.
            if created, (try? channel.attributes(target, followLinks: false))?.size == 0 { _ = try? channel.removeFile(target) }
        }
    }

    /// Where the file is cut at the end of the upload: the REST offset, 0 for an immediate STOR; nil otherwise.
    private var cutOffset: Int64? {
        switch placement {
        case .inPlace(let offset): return offset
        case .immediate: return 0
        case .replace, .append, .fresh: return nil
        }
    }

    /// Removes the temporary name; when the connection fails, the next working session does (`UploadLeftovers`).
    private func remove(_ entry: UploadLeftovers.Entry, over channel: SFTPSession) {
        do {
            try channel.removeFile(entry.temporary)
        } catch let failure as SFTPFailure where failure.errnoEquivalent == ENOENT {
        } catch {
            return leftovers.orphaned(entry)
        }
        leftovers.finished(entry)
    }

    /// One libssh2_sftp_write over everything pending: sends what is not yet in flight, returns on the first
    /// acknowledgement.
    private func flushSome() throws(FileStoreError) {
        do {
            let acknowledged = try pending.withUnsafeBytes { bytes in
                try handle.write(UnsafeRawBufferPointer(rebasing: bytes[start...]))
            }
            start += acknowledged
            written += Int64(acknowledged)
        } catch {
            sftp.markDesynchronized()
            throw SFTPUpload.writeError(error)
        }
    }

    /// A failed write or fsync as the engine's error: one that OpenSSH reports only as "failure" is almost always a
    /// full disk or quota, so it becomes ENOSPC (552).
    static func writeError(_ error: Error) -> FileStoreError {
        switch error {
        case let failure as SFTPFailure where failure.isGenericFailure && failure.function.contains("fsync"):
            return .system(PosixError("fsync (the SFTP server could not get the data onto its disk: usually a full disk or quota)", code: ENOSPC))
        case let failure as SFTPFailure where failure.isGenericFailure:
            return .system(PosixError("write (the SFTP server reported a failure: usually a full disk or quota)", code: ENOSPC))
        case let failure as SFTPFailure:
            return SFTPFileStore.storeError(failure)
        default:
            return .system(PosixError("\(error)", code: EIO))
        }
    }

    static func parent(of path: [UInt8]) -> [UInt8] {
        guard let slash = path.lastIndex(of: UInt8(ascii: "/")) else { return [] }
        return Array(path[...slash])
    }

    static func randomHex() -> String {
        (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }
}
