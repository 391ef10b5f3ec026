import CPosix
#if canImport(Glibc)
import Glibc
#endif

/// The kernel's TCP socket table, asked through NETLINK_SOCK_DIAG (inet_diag): which local uid owns a socket.
///
/// Every question is an exact lookup (SOCK_DIAG_BY_FAMILY with an `inet_diag_req_v2` naming the addresses, no
/// dump), so the kernel answers with the socket its own packet lookup picks: for a listener, the one a connection
/// to that address would reach (an IPv4 address also finds a dual-stack IPv6 listener on `::` or `::ffff:…`,
/// never an IPV6_V6ONLY one); for a connection, the socket with exactly that 4-tuple, whatever its family (an
/// AF_INET6 socket connected to `::ffff:127.0.0.1` is found from its IPv4 addresses). The answer is one message;
/// reads are bounded in size, count and time all the same.
public enum SocketTable {
    /// A socket the kernel reported.
    public struct Entry: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            case listening
            /// A full socket past its handshake (established, or closing).
            case connected
            /// A request socket: the listener answered the SYN, the final ACK has not made it a full socket yet.
            case handshaking
        }

        public let kind: Kind
        /// The owning uid; nil for `.handshaking` (a request socket has no owner of its own: the kernel says 0).
        public let uid: UInt32?
        /// Local and remote end as the kernel reports them (IPv4-mapped addresses unmapped).
        public let local: SocketAddress
        public let remote: SocketAddress

        public init(kind: Kind, uid: UInt32?, local: SocketAddress, remote: SocketAddress) {
            self.kind = kind
            self.uid = uid
            self.local = local
            self.remote = remote
        }
    }

    /// Longest wait for the kernel's answer (it is queued before send(2) returns; this only bounds the unexpected).
    static let replyMilliseconds: Int32 = 1000
    /// Largest datagram accepted (one message with its attributes is about 150 bytes).
    static let maximumReplyBytes = 8192
    /// Datagrams read before giving up (messages answering another sequence number are skipped).
    static let maximumReplies = 8

    /// The socket listening at `address`: the one a TCP connection to it would reach; nil when none listens.
    public static func listener(at address: SocketAddress) throws(PosixError) -> Entry? {
        let target = address.unmapped
        guard let anywhere = SocketAddress(host: target.family == .ipv6 ? "::" : "0.0.0.0", port: 0),
              let entry = try ask(local: target, remote: anywhere) else { return nil }
        return entry.kind == .listening && entry.local.port == target.port ? entry : nil
    }

    /// The connected (or handshaking) socket whose local end is `local` and remote end `remote`; nil when there is
    /// none (never a listener or a TIME_WAIT remnant that the kernel's lookup falls back to).
    public static func connection(from local: SocketAddress, to remote: SocketAddress) throws(PosixError) -> Entry? {
        let local = local.unmapped, remote = remote.unmapped
        guard local.family == remote.family, let entry = try ask(local: local, remote: remote),
              entry.kind != .listening, entry.local == local, entry.remote == remote else { return nil }
        return entry
    }

    /// The uid owning the connected socket `local` ↔ `remote` (the client end of a connection this process
    /// accepted: `local` is the client's address, `remote` ours); nil when no such socket has an owner.
    public static func owner(of local: SocketAddress, connectedTo remote: SocketAddress) throws(PosixError) -> UInt32? {
        guard let entry = try connection(from: local, to: remote), entry.kind == .connected else { return nil }
        return entry.uid
    }

    // MARK: The query

    /// One exact lookup; nil when the kernel knows no such socket (ENOENT) or only a TIME_WAIT remnant.
    static func ask(local: SocketAddress, remote: SocketAddress) throws(PosixError) -> Entry? {
        let sequence: UInt32 = 1
        let request = requestBytes(local: local, remote: remote, sequence: sequence)
        let fd = try Posix.callBlocking("socket(AF_NETLINK, NETLINK_SOCK_DIAG)") {
            socket(AF_NETLINK, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NETLINK_SOCK_DIAG)
        }
        defer { close(fd) }
        _ = try Posix.callBlocking("send (sock_diag lookup of \(local))") {
            request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        }
        var buffer = [UInt8](repeating: 0, count: maximumReplyBytes)
        let deadline = monotonicMilliseconds() + Int64(replyMilliseconds)
        for _ in 0..<maximumReplies {
            let remaining = Int32(clamping: max(0, deadline - monotonicMilliseconds()))
            guard try PosixPoll.wait(fd, events: Int16(POLLIN), milliseconds: remaining) else { break }
            let result = try Posix.call("recv (sock_diag answer)") {
                buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, cposix_msg_trunc | Int32(MSG_DONTWAIT)) }
            }
            guard case .done(let length) = result else { continue }
            guard length <= buffer.count else {
                throw PosixError("recv (sock_diag answer of \(length) bytes, more than \(maximumReplyBytes))", code: EMSGSIZE)
            }
            switch answer(in: buffer[0..<length], sequence: sequence) {
            case .found(let entry): return entry
            case .notFound: return nil
            case .failed(let code): throw PosixError("sock_diag lookup of \(local)", code: code)
            case .unrelated: continue
            }
        }
        throw PosixError("sock_diag lookup of \(local) (no answer within \(replyMilliseconds) ms)", code: ETIMEDOUT)
    }

    /// nlmsghdr + inet_diag_req_v2 asking for the TCP socket `local` ↔ `remote` (same family).
    static func requestBytes(local: SocketAddress, remote: SocketAddress, sequence: UInt32) -> [UInt8] {
        var request = inet_diag_req_v2()
        request.sdiag_family = UInt8(local.addressFamily)
        request.sdiag_protocol = UInt8(IPPROTO_TCP)
        request.idiag_states = UInt32.max
        request.id.idiag_sport = UInt16(local.port).bigEndian
        request.id.idiag_dport = UInt16(remote.port).bigEndian
        withUnsafeMutableBytes(of: &request.id.idiag_src) { $0.copyBytes(from: local.addressBytes) }
        withUnsafeMutableBytes(of: &request.id.idiag_dst) { $0.copyBytes(from: remote.addressBytes) }
        request.id.idiag_cookie = (cposix_inet_diag_no_cookie, cposix_inet_diag_no_cookie)
        var header = nlmsghdr()
        header.nlmsg_len = UInt32(MemoryLayout<nlmsghdr>.size + MemoryLayout<inet_diag_req_v2>.size)
        header.nlmsg_type = UInt16(SOCK_DIAG_BY_FAMILY)
        header.nlmsg_flags = UInt16(NLM_F_REQUEST)
        header.nlmsg_seq = sequence
        return withUnsafeBytes(of: header) { Array($0) } + withUnsafeBytes(of: request) { Array($0) }
    }

    // MARK: The answer (pure)

    enum Answer: Equatable {
        case found(Entry)
        case notFound
        case failed(Int32)
        /// Nothing in this datagram answers `sequence`.
        case unrelated
    }

    /// Reads one datagram of netlink messages (several may share it); the first that answers `sequence` decides.
    /// Lengths are checked against the datagram before anything is read: a short or lying message is `.unrelated`.
    static func answer(in datagram: ArraySlice<UInt8>, sequence: UInt32) -> Answer {
        let bytes = Array(datagram)
        let headerSize = MemoryLayout<nlmsghdr>.size
        var offset = 0
        while offset + headerSize <= bytes.count {
            let header = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: nlmsghdr.self) }
            let length = Int(header.nlmsg_len)
            guard length >= headerSize, length <= bytes.count - offset else { return .unrelated }
            let body = offset + headerSize
            let bodyLength = length - headerSize
            if header.nlmsg_seq == sequence {
                switch Int32(header.nlmsg_type) {
                case NLMSG_ERROR:
                    guard bodyLength >= MemoryLayout<Int32>.size else { return .unrelated }
                    let code = -bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: body, as: Int32.self) }
                    if code == ENOENT { return .notFound }
                    if code > 0 { return .failed(code) }
                case NLMSG_DONE:
                    return .notFound
                case Int32(SOCK_DIAG_BY_FAMILY):
                    guard bodyLength >= MemoryLayout<inet_diag_msg>.size else { return .unrelated }
                    let message = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: body, as: inet_diag_msg.self) }
                    guard let entry = entry(message) else { return .notFound }
                    return .found(entry)
                default:
                    break
                }
            }
            offset += (length + 3) & ~3  // NLMSG_ALIGN
        }
        return .unrelated
    }

    /// The entry for one reported socket; nil for a TIME_WAIT remnant (no owner) or an unknown family.
    static func entry(_ message: inet_diag_msg) -> Entry? {
        let family = Int32(message.idiag_family)
        guard family == AF_INET || family == AF_INET6 else { return nil }
        var id = message.id
        let count = family == AF_INET6 ? 16 : 4
        let source = withUnsafeBytes(of: &id.idiag_src) { Array($0.prefix(count)) }
        let destination = withUnsafeBytes(of: &id.idiag_dst) { Array($0.prefix(count)) }
        guard let local = SocketAddress(addressBytes: source, port: Int(UInt16(bigEndian: id.idiag_sport)))?.unmapped,
              let remote = SocketAddress(addressBytes: destination, port: Int(UInt16(bigEndian: id.idiag_dport)))?.unmapped
        else { return nil }
        switch message.idiag_state {
        case cposix_tcp_time_wait: return nil
        case cposix_tcp_listen: return Entry(kind: .listening, uid: message.idiag_uid, local: local, remote: remote)
        case cposix_tcp_new_syn_recv: return Entry(kind: .handshaking, uid: nil, local: local, remote: remote)
        default: return Entry(kind: .connected, uid: message.idiag_uid, local: local, remote: remote)
        }
    }

    static func monotonicMilliseconds() -> Int64 { Int64(PosixClock.monotonicSeconds() * 1000) }
}
