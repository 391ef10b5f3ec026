import Logging
import Shared

/// What the tunnel reports once every listener is bound and the SSH session is authenticated.
struct TunnelReady: Sendable {
    /// The local control port FTP clients connect to.
    let localPort: Int
    let bindAddress: String
    /// `ftp://127.0.0.1:PORT`
    var url: String { "ftp://\(bindAddress.contains(":") ? "[\(bindAddress)]" : bindAddress):\(localPort)" }
}

/// One site's tunnel: SSH session(s), local listeners, forwarding loop.
/// STUB — replaced by the real implementation (SSH/ and Forwarding/).
final class Tunnel: @unchecked Sendable {
    let settings: TunnelSettings
    let logger: Logger

    init(settings: TunnelSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// Connects, verifies the host key, authenticates, binds every listener, calls `onReady` once,
    /// then forwards until `stop()` is called or a fatal error occurs (thrown). Blocks the calling thread.
    func run(onReady: @escaping @Sendable (TunnelReady) -> Void) throws {
        throw TunnelError.notImplemented
    }

    /// Thread-safe: asks `run` to stop accepting, close channels, disconnect and return.
    func stop() {}
}

enum TunnelError: Error, CustomStringConvertible {
    case notImplemented
    var description: String { "not implemented yet" }
}
