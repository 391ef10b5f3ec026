import CPosix
#if canImport(Glibc)
import Glibc
#endif

/// A unix SOCK_SEQPACKET socket pair that carries whole messages, each with at most one descriptor attached
/// (SCM_RIGHTS): how pasvd's processes hand a connection to one another. The kernel keeps message boundaries, so
/// a reader never sees half a message, and a message longer than the reader's buffer arrives marked truncated.
public enum DescriptorChannel {
    /// One received message: its bytes, the descriptors that came with it (close-on-exec, now owned by the
    /// caller), and whether bytes or descriptors were cut off because they did not fit.
    public struct Message {
        public let bytes: [UInt8]
        public let descriptors: [Int32]
        public let truncated: Bool

        /// Closes every descriptor that came with the message.
        public func closeDescriptors() { for fd in descriptors { close(fd) } }
    }

    public enum Received {
        case message(Message)
        /// The other end is closed (and nothing is left to read).
        case closed
    }

    /// A connected pair, both ends close-on-exec.
    public static func pair() throws(PosixError) -> (Int32, Int32) {
        var ends: [Int32] = [-1, -1]
        let type = Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        try Posix.callBlocking("socketpair") { socketpair(AF_UNIX, type, 0, &ends) }
        return (ends[0], ends[1])
    }

    /// Sends `bytes` as one message, with `descriptor` attached when given. Never raises SIGPIPE: a closed peer
    /// is an EPIPE error. `.wouldBlock` only when `nonBlocking` and the peer's queue is full.
    public static func send(_ channel: Int32, _ bytes: [UInt8], passing descriptor: Int32? = nil,
                            nonBlocking: Bool) throws(PosixError) -> IOResult<Void> {
        let flags = nonBlocking ? Int32(MSG_DONTWAIT) : 0
        let result = try Posix.call("sendmsg") {
            bytes.withUnsafeBytes { cposix_send_with_fd(channel, $0.baseAddress, $0.count, descriptor ?? -1, flags) }
        }
        switch result {
        case .done: return .done(())
        case .wouldBlock: return .wouldBlock
        }
    }

    /// Receives one message of at most `maximumBytes` (longer ones arrive truncated) with at most
    /// `CPOSIX_MAXIMUM_PASSED_FDS` descriptors (more are closed on arrival and the message is marked truncated).
    public static func receive(_ channel: Int32, maximumBytes: Int, nonBlocking: Bool) throws(PosixError) -> IOResult<Received> {
        var buffer = [UInt8](repeating: 0, count: maximumBytes)
        let maximumFDs = Int(CPOSIX_MAXIMUM_PASSED_FDS)
        var fds = [Int32](repeating: -1, count: maximumFDs)
        var fdCount: Int32 = 0, messageFlags: Int32 = 0
        let flags = nonBlocking ? Int32(MSG_DONTWAIT) : 0
        let result = try Posix.call("recvmsg") {
            buffer.withUnsafeMutableBytes { raw in
                cposix_receive_with_fds(channel, raw.baseAddress, raw.count, &fds, Int32(maximumFDs), &fdCount,
                                        &messageFlags, flags)
            }
        }
        guard case .done(let count) = result else { return .wouldBlock }
        let descriptors = Array(fds.prefix(Int(fdCount)))
        if count == 0, descriptors.isEmpty, messageFlags & (cposix_msg_trunc | cposix_msg_ctrunc) == 0 { return .done(.closed) }
        let truncated = messageFlags & (cposix_msg_trunc | cposix_msg_ctrunc) != 0
        return .done(.message(Message(bytes: Array(buffer.prefix(count)), descriptors: descriptors, truncated: truncated)))
    }

    /// True when `fd` is a connected TCP socket (IPv4 or IPv6): the only kind of descriptor pasvd hands over.
    public static func isConnectedTCPSocket(_ fd: Int32) -> Bool {
        var type: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length) == 0, type == Int32(SOCK_STREAM.rawValue) else { return false }
        return PosixSocket.localAddress(fd) != nil && PosixSocket.peerAddress(fd) != nil
    }
}
