import Foundation
import Shared

/// The control connection: framed command lines in (4096-byte cap), replies out.
/// `input` and `output` differ only in --inetd mode (stdin/stdout).
final class ControlChannel {
    /// Bytes read from the control connection per read(2).
    static let readSize = 4096

    enum Input {
        case line([UInt8])
        case overlong(Int)
        case closed
        case timeout
        case shutdown
    }

    let input: Int32
    let output: Int32
    private var framer = LineFramer()
    private var queued: [LineFramer.Event] = []
    private(set) var peerClosed = false

    init(input: Int32, output: Int32) {
        self.input = input
        self.output = output
    }

    /// The next command line, waiting at most until `deadline` (monotonic seconds), or an early shutdown.
    func next(until deadline: Double, shutdownFD: Int32) -> Input {
        while true {
            if !queued.isEmpty {
                switch queued.removeFirst() {
                case .line(let bytes): return .line(bytes)
                case .overlong(let length): return .overlong(length)
                }
            }
            if peerClosed { return .closed }
            var fds = [pollfd(input, POLLIN), pollfd(shutdownFD, POLLIN)]
            let ready = Socket.poll(&fds, milliseconds: Monotonic.milliseconds(until: deadline))
            if ready < 0 { return .closed }
            if fds[1].isReadableOrClosed { return .shutdown }
            if fds[0].isReadableOrClosed {
                readAvailable()
            } else if Monotonic.now() >= deadline {
                return .timeout
            }
        }
    }

    /// Reads what is available (call after poll reported the input readable) into the line queue.
    /// Sets `peerClosed` on end of stream or error.
    func readAvailable() {
        var buffer = [UInt8](repeating: 0, count: ControlChannel.readSize)
        let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { return }
        guard n > 0 else {
            peerClosed = true
            return
        }
        queued += framer.feed(buffer[0..<n])
    }

    /// Removes a queued ABOR (sent during a transfer) and reports whether there was one.
    func takeAbort() -> Bool {
        guard let index = queued.firstIndex(where: {
            if case .line(let bytes) = $0 { return FTPCommandLine(line: bytes)?.verb == "ABOR" }
            return false
        }) else { return false }
        queued.remove(at: index)
        return true
    }

    /// True when the client has closed the control connection (checked without blocking).
    func checkPeerClosed() -> Bool {
        if peerClosed { return true }
        var fds = [pollfd(input, POLLIN)]
        if Socket.poll(&fds, milliseconds: 0) > 0, fds[0].isReadableOrClosed { readAvailable() }
        return peerClosed
    }

    /// Sends a reply; a vanished client marks the channel closed.
    func send(_ reply: Reply) {
        if !Socket.writeAll(output, Array(reply.wire.utf8)) { peerClosed = true }
    }
}
