import Foundation
import Posix

/// A local TCP listening socket (non-blocking, close-on-exec) that forwards each accepted connection to `target`.
/// Bound first and put into listening state later, so a bind failure is found before any SSH work and no port
/// accepts connections before the host key is verified.
final class LocalListener {
    let fd: Int32
    /// The bound address (port filled in when 0 was asked for).
    let local: SocketAddress
    let target: ForwardTarget
    /// One-shot listeners (rewrite mode) close after their first connection.
    let oneShot: Bool
    /// Marks the control listener (where a `StreamFilter` applies).
    let isControl: Bool
    private(set) var isListening = false
    /// Rewrite mode's data listeners: counts the bytes of the connection accepted here (a transfer's).
    var meter: TransferMeter?

    var address: String { local.host }
    var port: Int { local.port }

    init(address: String, port: Int, target: ForwardTarget, oneShot: Bool = false, isControl: Bool = false) throws {
        guard let requested = SocketAddress(host: address, port: port) else { throw TunnelError.badBindAddress(address) }
        self.target = target
        self.oneShot = oneShot
        self.isControl = isControl
        do {
            fd = try PosixSocket.bound(to: requested, nonBlocking: true)
        } catch {
            throw TunnelError.bindFailed(address: address, port: port, reason: error.reason)
        }
        local = port == 0 ? (PosixSocket.localAddress(fd) ?? requested) : requested
    }

    func listen() throws {
        do {
            try PosixSocket.listen(fd, on: local)
        } catch {
            throw TunnelError.bindFailed(address: address, port: port, reason: error.reason)
        }
        isListening = true
    }

    /// Accepts one pending connection (non-blocking, close-on-exec, TCP_NODELAY); nil when none is waiting or the
    /// accept failed for this one connection (ECONNABORTED, EMFILE: logged by the caller's next pass).
    func accept() -> (fd: Int32, peer: String, peerPort: Int)? {
        guard case .done(let client)? = try? PosixSocket.accept(fd, nonBlocking: true) else { return nil }
        PosixSocket.setNoDelay(client.fd)
        return (client.fd, client.peer?.host ?? "?", client.peer?.port ?? 0)
    }

    deinit { PosixDescriptor.close(fd) }
}
