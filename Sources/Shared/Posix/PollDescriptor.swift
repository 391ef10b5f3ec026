#if canImport(Glibc)
import Glibc
#endif

extension pollfd {
    /// A poll(2) entry for `fd` asking for `events` (POLLIN, POLLOUT …).
    public init(_ fd: Int32, _ events: Int32) {
        self.init(fd: fd, events: Int16(truncatingIfNeeded: events), revents: 0)
    }

    /// Readable, or closed/failed (a read will not block).
    public var isReadableOrClosed: Bool { Int32(revents) & (POLLIN | POLLHUP | POLLERR | POLLNVAL) != 0 }
}
