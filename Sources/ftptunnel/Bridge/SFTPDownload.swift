import FTPServerKit
import Foundation

/// A remote file opened for RETR: SFTP reads with a large buffer (libssh2 keeps up to 4 × that in read-ahead
/// requests in flight), each chunk sent on over the data connection.
final class SFTPDownload: FileDownload {
    /// Bytes asked of one libssh2_sftp_read call: 2 MiB keeps 8 MiB of requests in flight (libssh2 1.10's cap).
    static let readSize = 2 << 20

    let handle: SFTPHandle
    let size: Int64

    init(handle: SFTPHandle, size: Int64) {
        self.handle = handle
        self.size = size
    }

    deinit { handle.close() }

    func send(from offset: Int64, count: Int64, over data: DataConnection) -> TransferEnd {
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
}
