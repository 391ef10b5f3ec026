import FTPServerKit
import Foundation
import Posix

/// A daemon keeps no descriptors it did not open itself: whatever the parent leaked (sockets bound to
/// ports, pipes) would otherwise stay held for the server's whole lifetime.
enum InheritedDescriptors {
    /// Closes every descriptor above stderr but `kept`. Call first thing, before any thread or file is opened.
    static func closeAll(keeping kept: [Int32] = []) {
        guard let directory = opendir("/proc/self/fd") else { return }
        let own = dirfd(directory)
        var descriptors: [Int32] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if let fd = Int32(name), fd > STDERR_FILENO, fd != own, !kept.contains(fd) { descriptors.append(fd) }
        }
        closedir(directory)
        for fd in descriptors { close(fd) }
    }
}
