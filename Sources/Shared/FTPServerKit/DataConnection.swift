import Foundation
import Posix
import FTPCore

/// How a data transfer ended.
public enum TransferEnd: Equatable, Sendable {
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
public final class DataConnection {
    /// Largest sendfile(2) call; keeps each step short so ABOR is seen promptly.
    static let sendfileChunk = 8 << 20
    /// Upload read buffer.
    static let receiveBufferSize = 1 << 20

    let fd: Int32
    private let control: ControlChannel
    private let abortFD: Int32
    private let timeout: Double
    public private(set) var bytes: Int64 = 0 {
        didSet {
            lastProgress = Monotonic.now()
            watch?.moved(Int(bytes - oldValue))
        }
    }
    /// Told of every count of bytes moved (`Session.transferObserver`).
    var watch: TransferWatch?
    /// --data-timeout counts from here: the last time bytes moved (control traffic does not count).
    private var lastProgress = Monotonic.now()
    private var sendsSinceControlCheck = 0
    /// sendfile(2) calls between two looks at the control connection while the socket stays writable.
    static let controlCheckInterval = 16

    init(fd: Int32, control: ControlChannel, abortFD: Int32, timeout: Double) {
        self.fd = fd
        self.control = control
        self.abortFD = abortFD
        self.timeout = timeout
        PosixSocket.setNonBlocking(fd)
        control.inTransfer = true
    }

    deinit {
        control.inTransfer = false
        PosixDescriptor.close(fd)
    }

    /// Sends `count` bytes of `file` from `offset` with sendfile(2) (zero-copy).
    public func sendFile(_ file: Int32, offset: Int64, count: Int64) -> TransferEnd {
        var position = off_t(offset)
        var remaining = count
        var mustWait = false
        while remaining > 0 {
            // Poll only when the socket is full (or to look at the control connection now and then):
            // a writable socket is fed straight away.
            if mustWait || checkControlNow() {
                if let end = waitReady(events: POLLOUT) { return end }
            }
            mustWait = false
            do {
                switch try PosixFile.sendfile(fd, file, offset: &position, count: Int(min(remaining, Int64(DataConnection.sendfileChunk)))) {
                case .done(0): return .failed("file ended early (truncated while sending)")
                case .done(let n):
                    remaining -= Int64(n)
                    bytes += Int64(n)
                case .wouldBlock: mustWait = true
                }
            } catch {
                return .failed(error.reason)
            }
        }
        return .completed
    }

    /// Sends an in-memory buffer (directory listings).
    public func send(_ data: [UInt8]) -> TransferEnd {
        var offset = 0
        while offset < data.count {
            if let end = waitReady(events: POLLOUT) { return end }
            let result = data[offset...].withUnsafeBytes { buffer in Result { () throws(PosixError) in try PosixSocket.send(fd, buffer) } }
            switch result {
            case .success(.done(let n)):
                offset += n
                bytes += Int64(n)
            case .success(.wouldBlock): continue
            case .failure(let error): return .failed(error.reason)
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
            let n: Int
            do {
                guard case .done(let count) = try PosixSocket.read(fd, into: buffer) else { continue }
                n = count
            } catch {
                return .failed(error.reason)
            }
            if n == 0 { return .completed }
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
    /// The control connection is watched for ABOR, STAT and the client leaving, but only data progress
    /// postpones the time-out.
    private func waitReady(events: Int32) -> TransferEnd? {
        while true {
            let deadline = lastProgress + timeout
            guard Monotonic.now() < deadline else { return .timedOut }
            var fds = [pollfd(fd: fd, events: Int16(events), revents: 0),
                       pollfd(fd: control.input, events: control.transferEvents, revents: 0),
                       pollfd(fd: abortFD, events: Int16(POLLIN), revents: 0)]
            guard (try? PosixPoll.poll(&fds, milliseconds: Monotonic.milliseconds(until: deadline))) != nil else {
                return .failed("poll failed")
            }
            if fds[2].revents != 0 { return .shuttingDown }
            if fds[1].revents != 0 {
                control.serviceDuringTransfer(revents: fds[1].revents)
                if control.abortRequested { return .aborted }
                if control.statusRequests > 0 {
                    control.statusRequests = 0
                    control.send(Reply(ReplyCode.fileStatus, "Transfer in progress: \(bytes) bytes so far."))
                }
                if control.peerClosed || control.writeFailed { return .controlClosed }
            }
            if fds[0].revents != 0 { return nil }
        }
    }
}
