/// Renames that replace an existing target in one step: posix-rename@openssh.com is rename(2) on the server. SFTP v3's
/// RENAME (all libssh2 1.10 sends) refuses an existing target, and removing it first leaves the name missing for a
/// round trip, and the old file gone if the rename then fails. libssh2 1.10 cannot send the extension, so it goes over
/// a raw SFTP channel of the FTP session (`SFTPRawChannel`), kept between uploads.
extension SFTPChannelSpares {
    /// Renames `source` over `target` with posix-rename@openssh.com on a kept raw channel of `sftp`'s SSH session, or, with
    /// `startingOne` when none is kept, on one started for it (three round trips, then kept for the FTP session).
    /// False when the server does not offer the extension or refuses another channel: the caller renames the v3 way.
    /// Throws the server's refusal of the rename (the channel stays kept) or a broken connection (`sftp` is then marked
    /// lost, as its own calls would be).
    func renameReplacing(_ source: [UInt8], to target: [UInt8], beside sftp: SFTPSession, startingOne: Bool) throws -> Bool {
        do {
            return try renameReplacing(source, to: target, on: sftp.session, startingOne: startingOne)
        } catch let failure as SFTPFailure where failure.isConnectionLost {
            sftp.markConnectionLost()
            throw failure
        }
    }

    private func renameReplacing(_ source: [UInt8], to target: [UInt8], on session: SSHSession, startingOne: Bool) throws -> Bool {
        guard !lacksPosixRename,
              let raw = try rawChannel(on: session, starting: startingOne, for: "an atomic rename", fallback: "the old file is removed first")
        else { return false }
        defer { giveBack(raw) }
        guard raw.extensions.contains(SFTPWire.posixRenameExtension) else {
            lacksPosixRename = true
            return false
        }
        let id = raw.takeID()
        try raw.perform(SFTPWire.posixRenameRequest(id: id, from: source, to: target), id: id,
                        function: "SFTP posix-rename@openssh.com", path: target)
        return true
    }
}
