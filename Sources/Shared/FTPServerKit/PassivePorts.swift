import Foundation
import Posix
import FTPCore

/// Binds passive listeners inside the configured range only: a random starting port, then every other
/// port of the range in turn when one is taken. Never a port outside the range.
struct PassivePorts: Sendable {
    /// Passive listeners take exactly one connection.
    static let backlog: Int32 = 1

    let range: PortRange

    /// A listener on `host`, or nil when every port of the range is in use.
    func open(on host: String) -> PassiveListener? {
        let start = Int.random(in: 0..<range.count)
        for step in 0..<range.count {
            let port = range.lower + (start + step) % range.count
            guard let address = SocketAddress(host: host, port: port) else { return nil }
            if let fd = try? PosixSocket.bound(to: address, nonBlocking: false) {
                guard (try? PosixSocket.listen(fd, backlog: PassivePorts.backlog, on: address)) != nil else {
                    PosixDescriptor.close(fd)
                    continue
                }
                return PassiveListener(fd: fd, port: port)
            }
        }
        return nil
    }
}

/// One passive listener, owned by its session; closed after its one connection or its time-out.
final class PassiveListener {
    let fd: Int32
    let port: Int
    private var isClosed = false

    init(fd: Int32, port: Int) {
        self.fd = fd
        self.port = port
    }

    func close() {
        guard !isClosed else { return }
        isClosed = true
        PosixDescriptor.close(fd)
    }

    deinit { close() }
}
