#if canImport(Glibc)
import Glibc
#endif

/// AF_UNIX datagram sockets through the `Posix` choke point: the sd_notify protocol, and the test receivers of it.
/// Descriptors are plain `Int32`s owned by the caller; every socket is close-on-exec.
public enum UnixDatagram {
    /// An unbound datagram socket, close-on-exec.
    public static func socket(nonBlocking: Bool = false) throws(PosixError) -> Int32 {
        var type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        if nonBlocking { type |= Int32(SOCK_NONBLOCK.rawValue) }
        return try Posix.callBlocking("socket(AF_UNIX, SOCK_DGRAM)") { Glibc.socket(AF_UNIX, type, 0) }
    }

    /// A datagram socket bound to `address` (a receiver).
    public static func bound(to address: UnixSocketAddress, nonBlocking: Bool = true) throws(PosixError) -> Int32 {
        let fd = try socket(nonBlocking: nonBlocking)
        do throws(PosixError) {
            try Posix.callBlocking("bind \(address)") { address.withSockaddr { Glibc.bind(fd, $0, $1) } }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// Sends one datagram; the whole message or an error (datagrams are never sent in part). MSG_NOSIGNAL: a
    /// vanished receiver is an error, not SIGPIPE.
    public static func send(_ fd: Int32, _ message: [UInt8], to address: UnixSocketAddress) throws(PosixError) {
        let sent = try Posix.callBlocking("sendto \(address)") {
            message.withUnsafeBytes { bytes in
                address.withSockaddr { Glibc.sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), $0, $1) }
            }
        }
        guard sent == message.count else { throw PosixError("sendto \(address)", code: EMSGSIZE) }
    }

    /// Receives one datagram of at most `capacity` bytes (a longer one is cut there); `.wouldBlock` when none waits
    /// on a non-blocking socket.
    public static func receive(_ fd: Int32, capacity: Int = 4096) throws(PosixError) -> IOResult<[UInt8]> {
        var buffer = [UInt8](repeating: 0, count: capacity)
        let result = try Posix.call("recv") {
            buffer.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, 0) }
        }
        switch result {
        case .done(let count): return .done(Array(buffer[0..<count]))
        case .wouldBlock: return .wouldBlock
        }
    }
}
