import FTPServerKit
import Foundation
import Posix

/// A daemon keeps no descriptors it did not open itself: whatever the parent leaked (sockets bound to
/// ports, pipes) would otherwise stay held for the server's whole lifetime.
enum InheritedDescriptors {
    /// Closes every descriptor above stderr but `kept`. Call first thing, before any thread or file is opened.
    static func closeAll(keeping kept: [Int32] = []) {
        PosixDescriptor.close(PosixDescriptor.openDescriptors().filter { $0 > STDERR_FILENO && !kept.contains($0) })
    }
}
