import Foundation
import Posix

/// Opens the TCP connection an SSH session runs on: every address the resolver returns (IPv4 and IPv6),
/// in order, each bounded by ConnectTimeout; TCP_NODELAY set on the result.
struct TCPConnector {
    let host: String
    let port: Int
    /// Seconds per address attempt; nil waits for the kernel's own time-out.
    let timeout: Int?

    func connect() throws -> Int32 {
        let addresses: [SocketAddress]
        do { addresses = try PosixHost.addresses(of: host, port: port) } catch {
            throw SSHError.resolveFailed(host: host, reason: error.reason)
        }
        var lastReason = "no address"
        for address in addresses {
            do {
                return try attempt(address)
            } catch let error as ConnectAttemptError {
                lastReason = error.reason
            }
        }
        throw SSHError.connectFailed(host: host, port: port, reason: lastReason)
    }

    private struct ConnectAttemptError: Error { let reason: String }

    private func attempt(_ address: SocketAddress) throws -> Int32 {
        let millis = timeout.map { Int32(clamping: $0 * 1000) } ?? -1
        do {
            return try PosixSocket.connect(to: address, milliseconds: millis, nonBlocking: false)
        } catch where error.code == ETIMEDOUT && timeout != nil {
            throw ConnectAttemptError(reason: "timed out after \(timeout ?? 0) s (ConnectTimeout)")
        } catch {
            throw ConnectAttemptError(reason: error.reason)
        }
    }
}
