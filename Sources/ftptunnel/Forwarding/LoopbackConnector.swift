import Foundation
import Posix

/// Outbound TCP connections to a local FTP client's active-mode port (loopback only, checked by the filter).
enum LoopbackConnector {
    /// Starts a non-blocking connect; the socket is finished by the loop on POLLOUT (`finish`).
    static func start(host: String, port: Int) throws -> (fd: Int32, address: SocketAddress, connected: Bool) {
        guard let address = SocketAddress(host: host, port: port) else {
            throw DataConnectionError.clientUnreachable(address: "\(host):\(port)", reason: "not a numeric address")
        }
        do {
            let fd = try PosixSocket.tcp(address.family, nonBlocking: true)
            do {
                let result = try PosixSocket.startConnect(fd, to: address)
                PosixSocket.setNoDelay(fd)
                if case .done = result { return (fd, address, true) }
                return (fd, address, false)
            } catch {
                PosixDescriptor.close(fd)
                throw error
            }
        } catch let error as PosixError {
            throw DataConnectionError.clientUnreachable(address: "\(address)", reason: error.reason)
        }
    }

    /// The outcome of a connect that poll reported finished: nil when connected, else the reason.
    static func finish(fd: Int32, address: SocketAddress) -> DataConnectionError? {
        guard let failure = PosixSocket.connectResult(fd, address: address) else { return nil }
        return .clientUnreachable(address: "\(address)", reason: failure.reason)
    }
}
