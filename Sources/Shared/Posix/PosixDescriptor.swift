#if canImport(Glibc)
import Glibc
#endif

/// Calls on any kind of descriptor (file, socket, pipe) through the `Posix` choke point.
public enum PosixDescriptor {
    /// close(2) of a descriptor the caller owns and is done with. Not retried on EINTR (Linux has freed the
    /// descriptor by then, and a retry could close one another thread just got), and its error is not reported:
    /// nothing more can be done with the descriptor either way.
    public static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    /// The descriptors open in this process (from /proc/self/fd, without the one reading it); empty when /proc
    /// cannot be read.
    public static func openDescriptors() -> [Int32] {
        guard let directory = opendir("/proc/self/fd") else { return [] }
        defer { closedir(directory) }
        let own = dirfd(directory)
        var descriptors: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if let fd = Int32(name), fd != own { descriptors.append(fd) }
        }
        return descriptors
    }

    /// close(2) of each descriptor, as `close(_:)`.
    public static func close<Descriptors: Sequence>(_ fds: Descriptors) where Descriptors.Element == Int32 {
        for fd in fds { _ = Glibc.close(fd) }
    }
}
