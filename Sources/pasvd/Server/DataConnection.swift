import Foundation

/// How a data transfer ended.
enum TransferEnd: Equatable {
    case completed
    /// ABOR on the control connection.
    case aborted
    /// The client closed the control connection.
    case controlClosed
    /// No progress within --data-timeout.
    case timedOut
    /// The server's shutdown grace period ran out.
    case shuttingDown
    /// The data connection failed (reset, closed early on a download).
    case failed(String)
}

/// Moves bytes over one accepted data connection (non-blocking, polled together with the control
/// connection so that ABOR and a vanished client are noticed mid-transfer).
final class DataConnection {
    /// Largest sendfile(2) call; keeps each step short so ABOR is seen promptly.
    static let sendfileChunk = 8 << 20
    /// Upload read buffer.
    static let receiveBufferSize = 1 << 20

    let fd: Int32
    private let control: ControlChannel
    private let abortFD: Int32
    private let timeoutMilliseconds: Int32
    private(set) var bytes: Int64 = 0
    private var sendsSinceControlCheck = 0
    /// sendfile(2) calls between two looks at the control connection while the socket stays writable.
    static let controlCheckInterval = 16

    init(fd: Int32, control: ControlChannel, abortFD: Int32, timeout: Double) {
        self.fd = fd
        self.control = control
        self.abortFD = abortFD
        timeoutMilliseconds = Int32(min(timeout * 1000, Double(Int32.max)))
        Socket.setNonBlocking(fd)
    }

    deinit { close(fd) }

    /// Sends `count` bytes of `file` from `offset` with sendfile(2) (zero-copy).
    func sendFile(_ file: Int32, offset: Int64, count: Int64) -> TransferEnd {
        var position = off_t(offset)
        var remaining = count
        var mustWait = false
        while remaining > 0 {
            // Poll only when the socket is full (or to look at the control connection now and then):
            // a writable socket is fed straight away.
            if mustWait || checkControlNow() {
                if let end = waitReady(events: POLLOUT) { return end }
            }
            let n = sendfile(fd, file, &position, Int(min(remaining, Int64(DataConnection.sendfileChunk))))
            mustWait = false
            if n > 0 {
                remaining -= Int64(n)
                bytes += Int64(n)
            } else if n == 0 {
                return .failed("file ended early (truncated while sending)")
            } else if errno == EAGAIN {
                mustWait = true
            } else if errno != EINTR {
                return .failed(String(cString: strerror(errno)))
            }
        }
        return .completed
    }

    /// Sends an in-memory buffer (directory listings).
    func send(_ data: [UInt8]) -> TransferEnd {
        var offset = 0
        while offset < data.count {
            if let end = waitReady(events: POLLOUT) { return end }
            let n = data[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                offset += n
                bytes += Int64(n)
            } else if n < 0 && errno != EAGAIN && errno != EINTR {
                return .failed(String(cString: strerror(errno)))
            }
        }
        return .completed
    }

    /// Receives until the client closes the data connection, handing each chunk to `sink`.
    func receive(into sink: (UnsafeRawBufferPointer) throws -> Void) -> TransferEnd {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: DataConnection.receiveBufferSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            if let end = waitReady(events: POLLIN) { return end }
            let n = read(fd, buffer.baseAddress, buffer.count)
            if n == 0 { return .completed }
            if n < 0 {
                if errno == EAGAIN || errno == EINTR { continue }
                return .failed(String(cString: strerror(errno)))
            }
            do {
                try sink(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            } catch {
                return .failed("\(error)")
            }
            bytes += Int64(n)
        }
    }

    /// True every `controlCheckInterval` calls: the send loop then polls even though the socket is writable,
    /// so ABOR and a vanished client are noticed during a fast transfer too.
    private func checkControlNow() -> Bool {
        sendsSinceControlCheck += 1
        guard sendsSinceControlCheck >= DataConnection.controlCheckInterval else { return false }
        sendsSinceControlCheck = 0
        return true
    }

    /// Waits until the data socket is ready for `events`; returns an end when something else happened first.
    private func waitReady(events: Int32) -> TransferEnd? {
        while true {
            var fds = [pollfd(fd, events), pollfd(control.input, POLLIN), pollfd(abortFD, POLLIN)]
            let ready = Socket.poll(&fds, milliseconds: timeoutMilliseconds)
            if ready == 0 { return .timedOut }
            if fds[2].isReadableOrClosed { return .shuttingDown }
            if fds[1].isReadableOrClosed {
                control.readAvailable()
                if control.takeAbort() { return .aborted }
                if control.peerClosed { return .controlClosed }
            }
            if Int32(fds[0].revents) != 0 { return nil }
        }
    }
}
