import FTPServerKit
import Foundation

/// A remote file opened for RETR. Large reads go over a raw SFTP channel of the FTP session (`SFTPRawDownload`,
/// 16 MiB of reads in flight): a kept one, or one started for a read large enough to repay its start (three round
/// trips). Otherwise, and whenever the raw channel cannot be used before a byte went out, libssh2 reads the file
/// through the handle the RETR opened, with a large buffer (libssh2 keeps up to 4 × that in read-ahead requests in
/// flight, at most 8 MiB), each chunk sent on over the data connection.
final class SFTPDownload: FileDownload {
    /// Bytes asked of one libssh2_sftp_read call: 2 MiB keeps 8 MiB of requests in flight (libssh2 1.10's cap).
    static let readSize = 2 << 20
    /// The least a RETR sends over a kept raw channel.
    static let rawMinimum: Int64 = 4 << 20
    /// The least a RETR sends over a raw channel started for it.
    static let rawStartMinimum: Int64 = 64 << 20

    let handle: SFTPHandle
    let size: Int64
    /// The modification time the handle's FSTAT reported (a raw channel's open must find the same file).
    let modified: Int?
    private weak var spares: SFTPChannelSpares?

    init(handle: SFTPHandle, size: Int64, modified: Int? = nil, spares: SFTPChannelSpares? = nil) {
        self.handle = handle
        self.size = size
        self.modified = modified
        self.spares = spares
    }

    deinit { handle.close() }

    func send(from offset: Int64, count: Int64, over data: DataConnection) -> TransferEnd {
        if let end = sendOverRawChannel(from: offset, count: count, over: data) { return end }
        handle.seek(to: offset)
        var buffer = [UInt8](repeating: 0, count: SFTPDownload.readSize)
        var remaining = count
        while remaining > 0 {
            let wanted = Int(min(remaining, Int64(SFTPDownload.readSize)))
            let n: Int
            do {
                n = try buffer.withUnsafeMutableBytes { try handle.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<wanted])) }
            } catch {
                return .failed("\(error)")
            }
            guard n > 0 else { return .failed("file ended early (truncated on the server while sending)") }
            let end = data.send(n == buffer.count ? buffer : Array(buffer[0..<n]))
            guard end == .completed else { return end }
            remaining -= Int64(n)
        }
        return .completed
    }

    /// The transfer's end when it went over a raw channel; nil when none was used and nothing was sent.
    private func sendOverRawChannel(from offset: Int64, count: Int64, over data: DataConnection) -> TransferEnd? {
        guard count >= SFTPDownload.rawMinimum, let spares, !handle.sftp.isConnectionLost else { return nil }
        // A broken connection is left to the own channel's read, which reports it.
        guard let raw = (try? spares.rawChannel(on: handle.sftp.session, starting: count >= SFTPDownload.rawStartMinimum,
                                                 for: "a download", fallback: "reading through the FTP session's own")) ?? nil
        else { return nil }
        let download = SFTPRawDownload(raw: raw, path: handle.path)
        let started = Monotonic.now()
        let outcome = download.send(from: offset, count: count, size: UInt64(size), modified: modified, over: data)
        spares.giveBack(raw)
        switch outcome {
        case .ended(let end):
            spares.logger.info("download of \(String(decoding: handle.path, as: UTF8.self)) over a raw SFTP channel (\(SFTPRawDownload.window >> 20) MiB of reads in flight): \(end == .completed ? "\(count) bytes" : "\(end)") in \(String(format: "%.2f", Monotonic.now() - started)) s")
            return end
        case .notUsed(let reason):
            spares.logger.info("download of \(String(decoding: handle.path, as: UTF8.self)) reads through the FTP session's own channel: \(reason)")
            return nil
        }
    }
}
