import Foundation

/// Dynamic forwards requested while the loop runs (rewrite mode's data connections), on the loop thread.
extension ForwardingLoop: ForwardingControl {
    func addOneShotListener(target: ForwardTarget, range: ClosedRange<Int>?) throws -> Int {
        var lastError: Error = TunnelError.internalFailure("empty port range")
        for port in range.map(Array.init) ?? [0] {
            do {
                let listener = try LocalListener(address: configuration.bindAddress, port: port, target: target, oneShot: true)
                try listener.listen()
                listeners.append(listener)
                return listener.port
            } catch {
                lastError = error
            }
        }
        throw lastError
    }

    func connectLocal(host: String, port: Int, target: ForwardTarget) throws {
        let (storage, length, family) = try SocketAddress.make(host, port)
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TunnelError.internalFailure("socket: \(String(cString: strerror(errno)))") }
        var address = storage
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(fd, $0, length) }
        }
        guard rc == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw TunnelError.bindFailed(address: host, port: port, reason: reason)
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let forward = Forward(id: nextID, fd: fd, peer: host, peerPort: port, localPort: port, target: target,
                              filter: nil, bufferSize: configuration.bufferSize)
        nextID += 1
        forwards.append(forward)
        openQueue.append(forward)
    }
}
