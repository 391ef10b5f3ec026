import Foundation
import Logging
import Posix

/// The sd_notify(3) protocol without libsystemd: when a service manager started ftptunnel with `$NOTIFY_SOCKET`
/// (systemd's `Type=notify`), it is told `READY=1` once the listeners accept connections and `STOPPING=1` when
/// shutdown begins, each as one datagram on that AF_UNIX socket (a path, or `@name` in the abstract namespace).
/// Without `$NOTIFY_SOCKET` it does nothing. A failed notification is logged, never fatal: the tunnel works alike.
final class ServiceNotifier: Sendable {
    static let environmentKey = "NOTIFY_SOCKET"

    let address: UnixSocketAddress
    private let logger: Logger

    /// nil when `$NOTIFY_SOCKET` is unset or empty; an address that cannot be used is logged once and also nil.
    init?(environment: [String: String], logger: Logger) {
        guard let text = environment[Self.environmentKey], !text.isEmpty else { return nil }
        guard let address = UnixSocketAddress(text) else {
            logger.warning("\(Self.environmentKey)=\(text) is not an absolute socket path or @abstract name; the service manager is not told when the tunnel is ready")
            return nil
        }
        self.address = address
        self.logger = logger
    }

    /// `READY=1` with a one-line status for `systemctl status`.
    func ready(status: String) { send(["READY=1", "STATUS=\(Self.oneLine(status))"]) }

    /// `STOPPING=1`: shutdown has begun.
    func stopping() { send(["STOPPING=1", "STATUS=stopping"]) }

    /// The assignments, newline-separated, in one datagram from a fresh socket (as sd_notify does).
    func send(_ assignments: [String]) {
        let message = Array(assignments.joined(separator: "\n").utf8)
        do throws(PosixError) {
            let fd = try UnixDatagram.socket()
            defer { PosixDescriptor.close(fd) }
            try UnixDatagram.send(fd, message, to: address)
        } catch {
            logger.warning("could not notify the service manager at \(address) (\(error)); continuing")
        }
    }

    /// Newlines would start another assignment.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
