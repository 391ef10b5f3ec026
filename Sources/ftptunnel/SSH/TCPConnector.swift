import Foundation
import Posix

/// Opens the TCP connection an SSH session runs on: every address getaddrinfo returns (IPv4 and IPv6),
/// in order, each bounded by ConnectTimeout; TCP_NODELAY set on the result.
struct TCPConnector {
    let host: String
    let port: Int
    /// Seconds per address attempt; nil waits for the kernel's own time-out.
    let timeout: Int?

    func connect() throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, "\(port)", &hints, &list)
        guard rc == 0, let first = list else {
            throw SSHError.resolveFailed(host: host, reason: String(cString: gai_strerror(rc)))
        }
        defer { freeaddrinfo(first) }
        var lastReason = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            do {
                return try attempt(info.pointee)
            } catch let error as ConnectAttemptError {
                lastReason = error.reason
            }
        }
        throw SSHError.connectFailed(host: host, port: port, reason: lastReason)
    }

    private struct ConnectAttemptError: Error { let reason: String }

    private func attempt(_ info: addrinfo) throws -> Int32 {
        guard let raw = info.ai_addr, let address = SocketAddress(raw, length: info.ai_addrlen) else {
            throw ConnectAttemptError(reason: "unsupported address family \(info.ai_family)")
        }
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
