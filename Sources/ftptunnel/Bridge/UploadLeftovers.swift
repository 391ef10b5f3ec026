import Foundation
import Logging
import Posix

/// Mode sftp's record of temporary upload files (`.ftptunnel-upload-*`) that may still be on the server.
///
/// While a STOR runs, its temporary name is journaled in a local file, `JOURNAL/PID-TOKEN` (JOURNAL:
/// `$XDG_STATE_HOME/ftptunnel/bridge-uploads`, default `~/.local/state/…`, 0700), holding the SSH destination and
/// the server path. The entry goes when the name is gone from the server (renamed into place, or removed). An
/// upload whose SSH session died cannot remove its file: the entry stays and the name is remembered here, and
/// `sweep` removes it (SFTP unlink) on the next working SSH session of this process, or of the next bridge for the
/// same destination after this process ended (killed, or stopped before a session came back).
///
/// The rule that keeps it safe: only names this machine's bridges created and journaled are ever removed (never a
/// name found by listing the server), for the same `user@host:port`, and only when the process that created the
/// name is gone or is this one and its upload has ended. Another running bridge's upload is therefore never
/// touched (its PID is alive), nor anything made by a bridge on another machine. A reused PID only postpones
/// the removal.
final class UploadLeftovers: @unchecked Sendable {
    /// A journaled upload: its entry file (nil when the journal could not be written) and server path.
    struct Entry: Sendable {
        let file: String?
        let temporary: [UInt8]
    }

    /// Entries one sweep reads at most (a bound on work at start).
    static let maximumEntries = 4096
    /// Bytes an entry file may hold.
    static let maximumEntryBytes = 8192

    let destination: String
    let journal: String?
    private let logger: Logger
    private let lock = NSLock()
    /// This process's uploads that ended without removing their temporary name.
    private var orphans: [Entry] = []
    private var warnedJournal = false

    init(destination: String, environment: [String: String], logger: Logger) {
        self.destination = destination
        self.logger = logger
        journal = UploadLeftovers.journalDirectory(environment)
    }

    /// `$XDG_STATE_HOME/ftptunnel/bridge-uploads`, else `$HOME/.local/state/ftptunnel/bridge-uploads`; nil without either.
    static func journalDirectory(_ environment: [String: String]) -> String? {
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") { return "\(state)/ftptunnel/bridge-uploads" }
        guard let home = environment["HOME"], home.hasPrefix("/") else { return nil }
        return "\(home)/.local/state/ftptunnel/bridge-uploads"
    }

    /// Journals `temporary` before it is created on the server. Without a usable journal the upload goes on and
    /// only this process can clean up after it (said once in the log).
    func begin(_ temporary: [UInt8], token: String) -> Entry {
        guard let journal else { return Entry(file: nil, temporary: temporary) }
        let file = "\(journal)/\(PosixProcess.currentID)-\(token)"
        let text = "\(destination)\n\(UploadLeftovers.hex(temporary))\n"
        do {
            try FileManager.default.createDirectory(atPath: journal, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            guard FileManager.default.createFile(atPath: file, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw PosixError("create \(file)", code: EIO)
            }
            return Entry(file: file, temporary: temporary)
        } catch {
            lock.withLock {
                if !warnedJournal { logger.warning("cannot journal uploads in \(journal) (\(error)): a temporary upload file whose SSH session dies is removed only by this process") }
                warnedJournal = true
            }
            return Entry(file: nil, temporary: temporary)
        }
    }

    /// The temporary name is gone from the server (renamed into place or removed).
    func finished(_ entry: Entry) {
        if let file = entry.file { try? FileManager.default.removeItem(atPath: file) }
    }

    /// The upload ended and could not remove its temporary name: the next `sweep` does.
    func orphaned(_ entry: Entry) {
        logger.notice("temporary upload \(String(decoding: entry.temporary, as: UTF8.self)) left on the server; removed when an SSH session works again")
        lock.withLock { orphans.append(entry) }
    }

    /// Removes, over `sftp`, this process's orphaned temporary names and those journaled for this destination by
    /// processes that are gone. A name that cannot be removed now (the connection failing again) is kept for the
    /// next sweep.
    func sweep(_ sftp: SFTPSession) {
        let mine = lock.withLock { () -> [Entry] in
            defer { orphans = [] }
            return orphans
        }
        var kept: [Entry] = []
        for entry in mine + journaledByGoneProcesses() {
            do {
                try sftp.removeFile(entry.temporary)
            } catch let failure as SFTPFailure where failure.errnoEquivalent == ENOENT {
                // Already gone (renamed into place before the entry could be removed, or swept by another bridge).
            } catch {
                kept.append(entry)
                continue
            }
            logger.notice("removed the temporary upload \(String(decoding: entry.temporary, as: UTF8.self)) left by an SSH session that died")
            finished(entry)
        }
        let keptOrphans = kept.filter { entry in mine.contains { $0.file == entry.file && $0.temporary == entry.temporary } }
        lock.withLock { orphans += keptOrphans }
    }

    /// Journal entries of this destination whose creating process has exited.
    func journaledByGoneProcesses() -> [Entry] {
        guard let journal, let names = try? FileManager.default.contentsOfDirectory(atPath: journal) else { return [] }
        var entries: [Entry] = []
        for name in names.prefix(UploadLeftovers.maximumEntries) {
            guard let pid = name.split(separator: "-").first.flatMap({ pid_t($0) }), pid > 0, pid != PosixProcess.currentID,
                  !PosixProcess.isAlive(pid) else { continue }
            let file = "\(journal)/\(name)"
            guard let data = FileManager.default.contents(atPath: file), data.count <= UploadLeftovers.maximumEntryBytes else { continue }
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            guard lines.count >= 2, lines[0] == destination, let temporary = UploadLeftovers.unhex(lines[1]),
                  UploadLeftovers.isTemporaryName(temporary) else { continue }
            entries.append(Entry(file: file, temporary: temporary))
        }
        return entries
    }

    /// True when the last component of `path` is one of ours (`.ftptunnel-upload-…`): a damaged journal entry
    /// can never name another file.
    static func isTemporaryName(_ path: [UInt8]) -> Bool {
        let name = path.split(separator: UInt8(ascii: "/")).last.map(Array.init) ?? []
        return name.starts(with: Array(SFTPUpload.temporaryPrefix.utf8)) && !name.contains(0)
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func unhex(_ text: Substring) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard !digits.isEmpty, digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }
}
