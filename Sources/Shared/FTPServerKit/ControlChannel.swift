import Foundation
import Posix
import FTPCore

/// The control connection: framed command lines in (4096-byte cap), replies out. `input` and `output` differ
/// only in --inetd mode (stdin/stdout).
///
/// Memory is bounded whatever the client sends: at most one read (`readSize` bytes) waits unframed, and lines
/// are framed from it only while fewer than `maximumQueued` wait. During a transfer (`inTransfer`) the socket is
/// not read at all once the queue is full, so a client that floods commands meets TCP back-pressure; ABOR and
/// STAT are recognised as each line is framed (O(1) per line) and never queued.
///
/// `lineByLine` (a session that may be handed to another process after login) reads no byte beyond the end of
/// the line being framed (MSG_PEEK, then a read of exactly that line): whatever the client pipelined after PASS
/// stays in the socket and moves with it.
final class ControlChannel {
    /// Bytes read from the control connection per read(2).
    static let readSize = 4096
    /// Command lines waiting to be executed, at most (pipelining clients send a handful).
    static let maximumQueued = 8

    enum Input {
        case line([UInt8])
        case overlong(Int)
        case closed
        case timeout
        case shutdown
        /// The idle watch's descriptor is readable or closed.
        case watch
    }

    let input: Int32
    let output: Int32
    let lineByLine: Bool
    private var framer = LineFramer()
    private var unframed: [UInt8] = []
    private var unframedOffset = 0
    private var queued: [LineFramer.Event] = []
    /// End of stream (or a read error) on the input.
    private(set) var peerClosed = false
    /// A reply could not be sent: nobody is listening any more, so queued lines are dropped.
    private(set) var writeFailed = false
    /// Set while a data transfer runs: ABOR and STAT are then taken out of the stream as they are framed.
    var inTransfer = false {
        didSet {
            abortRequested = false
            statusRequests = 0
            // An ABOR pipelined before the transfer began counts as well (the queue is short: O(1)).
            if inTransfer, let index = queued.firstIndex(where: ControlChannel.isAbort) {
                queued.remove(at: index)
                abortRequested = true
            }
        }
    }
    /// ABOR arrived during the transfer.
    private(set) var abortRequested = false
    /// STATs (without argument) that arrived during the transfer, to be answered by the transfer.
    var statusRequests = 0

    init(input: Int32, output: Int32, lineByLine: Bool = false) {
        self.input = input
        self.output = output
        self.lineByLine = lineByLine
    }

    /// The next command line, waiting at most until `deadline` (monotonic seconds), or an early shutdown.
    /// `watchFD`: another descriptor to report (`.watch`) when readable or closed.
    func next(until deadline: Double, shutdownFD: Int32, watchFD: Int32? = nil) -> Input {
        while true {
            if writeFailed { return .closed }
            frameQueued()
            if !queued.isEmpty {
                switch queued.removeFirst() {
                case .line(let bytes): return .line(bytes)
                case .overlong(let length): return .overlong(length)
                }
            }
            if peerClosed { return .closed }
            var fds = [pollfd(fd: input, events: Int16(POLLIN), revents: 0), pollfd(fd: shutdownFD, events: Int16(POLLIN), revents: 0)]
            if let watchFD { fds.append(pollfd(fd: watchFD, events: Int16(POLLIN) | PosixPoll.readHangUp, revents: 0)) }
            guard (try? PosixPoll.poll(&fds, milliseconds: Monotonic.milliseconds(until: deadline))) != nil else { return .closed }
            if fds[1].revents != 0 { return .shutdown }
            if fds.count > 2, fds[2].revents != 0 { return .watch }
            if fds[0].revents != 0 {
                readAvailable()
            } else if Monotonic.now() >= deadline {
                return .timeout
            }
        }
    }

    /// poll(2) events to ask for on `input` during a transfer: input only while there is room for it; the
    /// peer's close (POLLRDHUP) always.
    var transferEvents: Int16 { wantsInput ? Int16(POLLIN) | PosixPoll.readHangUp : PosixPoll.readHangUp }

    /// Handles what poll reported for `input` during a transfer: reads (if there is room) and frames, or notes
    /// that the client closed. Check `abortRequested`, `statusRequests` and `peerClosed` afterwards.
    func serviceDuringTransfer(revents: Int16) {
        if wantsInput, revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
            readAvailable()
            frameQueued()
        } else if revents & (PosixPoll.readHangUp | Int16(POLLHUP | POLLERR | POLLNVAL)) != 0 {
            peerClosed = true
        }
    }

    /// True when the client has closed the control connection (checked without blocking and without reading).
    func checkPeerClosed() -> Bool {
        if peerClosed || writeFailed { return true }
        var fds = [pollfd(fd: input, events: PosixPoll.readHangUp, revents: 0)]
        if (try? PosixPoll.poll(&fds, milliseconds: 0)) ?? 0 > 0,
           fds[0].revents & (PosixPoll.readHangUp | Int16(POLLHUP | POLLERR | POLLNVAL)) != 0 {
            peerClosed = true
        }
        return peerClosed
    }

    /// Sends a reply; a vanished client marks the channel closed.
    func send(_ reply: Reply) {
        guard !writeFailed else { return }
        let bytes = PathName.bytes(reply.wire)  // names in replies go out as the bytes they are on disk
        do throws(PosixError) { try PosixFile.writeAll(output, bytes) } catch { writeFailed = true }
    }

    private var wantsInput: Bool { !peerClosed && unframedOffset >= unframed.count && queued.count < ControlChannel.maximumQueued }

    /// One read(2) of at most `readSize` bytes, kept unframed; sets `peerClosed` on end of stream or error.
    private func readAvailable() {
        guard unframedOffset >= unframed.count, !peerClosed else { return }
        var buffer = [UInt8](repeating: 0, count: ControlChannel.readSize)
        if lineByLine {
            // Only up to (and including) the first LF waiting; all of it when none is there yet (the line goes on).
            let peeked = buffer.withUnsafeMutableBytes { raw in try? PosixSocket.peek(input, into: raw) }
            if case .wouldBlock? = peeked { return }
            guard case .done(let waiting)? = peeked, waiting > 0 else { peerClosed = true; return }
            let lineEnd = buffer[0..<waiting].firstIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? waiting
            buffer.removeLast(buffer.count - lineEnd)
        }
        let result = buffer.withUnsafeMutableBytes { raw in try? PosixSocket.read(input, into: raw) }
        switch result {
        case .done(let n)? where n > 0:
            unframed = Array(buffer[0..<n])
            unframedOffset = 0
        case .wouldBlock?: return
        default: peerClosed = true
        }
    }

    /// Frames lines from the unframed bytes until the queue is full or the bytes are used up.
    private func frameQueued() {
        while queued.count < ControlChannel.maximumQueued, unframedOffset < unframed.count {
            let byte = unframed[unframedOffset]
            unframedOffset += 1
            for event in framer.feed(CollectionOfOne(byte)) { take(event) }
        }
        if unframedOffset >= unframed.count, !unframed.isEmpty {
            unframed = []
            unframedOffset = 0
        }
    }

    private static func isAbort(_ event: LineFramer.Event) -> Bool {
        if case .line(let bytes) = event { return FTPCommandLine(line: bytes)?.verb == "ABOR" }
        return false
    }

    private func take(_ event: LineFramer.Event) {
        if inTransfer, case .line(let bytes) = event, let command = FTPCommandLine(line: bytes) {
            switch (command.verb, command.argument.isEmpty) {
            case ("ABOR", _): abortRequested = true; return
            case ("STAT", true): statusRequests += 1; return
            default: break
            }
        }
        queued.append(event)
    }
}
