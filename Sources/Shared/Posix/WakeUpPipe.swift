import CPosix
import Glibc

/// A self-pipe that lets one thread (or a signal handler) wake another thread's poll(2): the read end is watched,
/// `wake()` makes it readable with one write(2) (async-signal-safe), `drain()` empties it again. A pipe that is
/// woken and never drained stays readable: a latch. Both ends are non-blocking and close-on-exec.
public final class WakeUpPipe: @unchecked Sendable {
    public let readFD: Int32
    private let writeFD: Int32

    public init() throws(PosixError) {
        var fds: [Int32] = [-1, -1]
        _ = try Posix.callBlocking("pipe2") { cposix_pipe(&fds, 1) }
        readFD = fds[0]
        writeFD = fds[1]
    }

    public func wake() {
        var byte: UInt8 = 1
        _ = write(writeFD, &byte, 1)
    }

    public func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readFD, &buffer, buffer.count) > 0 {}
    }

    deinit {
        close(readFD)
        close(writeFD)
    }
}
