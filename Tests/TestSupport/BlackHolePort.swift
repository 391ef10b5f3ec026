import Foundation

/// A TCP port that never answers: a socket listening with backlog 0 whose queue is filled by a few connects, so
/// the kernel drops further SYNs (a firewall that silently drops, or a server whose backlog is full). A connect
/// to it hangs until the connector gives up (about two minutes for sshd's).
public final class BlackHolePort: @unchecked Sendable {
    public let host: String
    public let port: Int
    private let listener: Int32
    private var fillers: [Int32] = []

    public init(host: String = LoopbackNet.serverSide) throws {
        self.host = host
        port = try LoopbackNet.freePort(on: host)
        var address = try LoopbackNet.socketAddress(host, port)
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 0) == 0 else { throw POSIXError(.EADDRINUSE) }
        for _ in 0..<Self.fillerConnections {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            fillers.append(fd)
        }
    }

    /// Enough to fill a backlog of 0 (the kernel admits one more than the backlog) with room to spare.
    static let fillerConnections = 4

    /// True when a fresh connect is still unanswered after `milliseconds` (the port really swallows SYNs).
    public func swallowsConnects(milliseconds: Int32 = 300) throws -> Bool {
        var address = try LoopbackNet.socketAddress(host, port)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        defer { close(fd) }
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var entry = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        return poll(&entry, 1, milliseconds) == 0
    }

    deinit {
        fillers.forEach { close($0) }
        close(listener)
    }
}
