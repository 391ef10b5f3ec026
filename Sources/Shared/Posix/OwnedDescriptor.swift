#if canImport(Glibc)
import Glibc
#endif

/// A descriptor with one owner: closed exactly once, when the owner lets go of it.
public final class OwnedDescriptor: @unchecked Sendable {
    public let fd: Int32

    public init(_ fd: Int32) { self.fd = fd }

    deinit { close(fd) }
}
