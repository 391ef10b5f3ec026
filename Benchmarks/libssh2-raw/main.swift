import CLibSSH2
import Glibc

// libssh2-raw-bench: the best a bare libssh2 1.10 direct-tcpip channel achieves (ftptunnel's own ceiling).
// One SSH session, one channel, one non-blocking loop that polls the socket in the directions
// libssh2_session_block_directions() reports, never spinning. Downloads N bytes from a TCP source on the
// server side (or uploads a file to a TCP sink) and prints bytes, seconds, MB/s and the process CPU time.

/// Bytes in a mebibyte, for window sizes given as `16M`.
let mebibyte = 1 << 20
/// MB/s in the output are decimal megabytes per second.
let megabyte = 1_000_000.0
/// Default receive window of the channel (what ftptunnel's DataWindow defaults to).
let defaultWindow = 16 * mebibyte
/// Maximum SSH packet payload (OpenSSH and ftptunnel use the same).
let defaultPacket = 32_768
/// Size of each channel read / write call.
let defaultBuffer = 256 * 1024
/// The loop gives up when nothing moves for this long.
let stallTimeoutMilliseconds: Int32 = 30_000

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Command-line options (hand-parsed: this target depends on CLibSSH2 only).
struct Options {
    var host = "127.0.0.1"
    var port = 22
    var user = "root"
    var key = ""
    var knownHosts: String?
    var targetHost = "127.0.0.2"
    var targetPort = 0
    var window = defaultWindow
    var packet = defaultPacket
    var buffer = defaultBuffer
    var upload = false
    var output = "/dev/null"
    var input = ""
    var expectBytes: Int?
    var cipher = "aes128-ctr"
    var mac = "hmac-sha2-256"

    static let usage = """
        usage: libssh2-raw-bench --port P --user U --key FILE --target-port N [options]
          --host H            sshd address (default 127.0.0.1)
          --known-hosts FILE  verify the host key against this OpenSSH known_hosts file
                              (without it only a loopback --host is accepted, unverified)
          --target-host H     address the server side connects to (default 127.0.0.2)
          --window N[K|M]     channel receive window (default 16M); --packet N (default 32768)
          --buffer N[K|M]     bytes per channel read/write call (default 256K)
          --download          read the channel until EOF into --output FILE (default /dev/null)
          --upload FILE       write FILE into the channel, send EOF, wait for the server side to close
          --expect N          fail unless exactly N bytes were transferred
          --cipher C --mac M  forced algorithms (default aes128-ctr, hmac-sha2-256)
        """

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var rest = arguments[...]
        func value(_ name: String) throws -> String {
            guard let next = rest.popFirst() else { throw BenchError("\(name) needs a value.\n\(usage)") }
            return next
        }
        func number(_ name: String) throws -> Int {
            let text = try value(name)
            let scale: Int
            var digits = Substring(text)
            switch text.last {
            case "K", "k": scale = 1024; digits = digits.dropLast()
            case "M", "m": scale = mebibyte; digits = digits.dropLast()
            case "G", "g": scale = 1024 * mebibyte; digits = digits.dropLast()
            default: scale = 1
            }
            guard let n = Int(digits), n >= 0 else { throw BenchError("\(name): '\(text)' is not a size.") }
            return n * scale
        }
        while let argument = rest.popFirst() {
            switch argument {
            case "--host": options.host = try value(argument)
            case "--port", "-p": options.port = try number(argument)
            case "--user", "-l": options.user = try value(argument)
            case "--key", "-i": options.key = try value(argument)
            case "--known-hosts": options.knownHosts = try value(argument)
            case "--target-host": options.targetHost = try value(argument)
            case "--target-port": options.targetPort = try number(argument)
            case "--window": options.window = try number(argument)
            case "--packet": options.packet = try number(argument)
            case "--buffer": options.buffer = max(1, try number(argument))
            case "--download": options.upload = false
            case "--output": options.output = try value(argument)
            case "--upload": options.upload = true; options.input = try value(argument)
            case "--expect": options.expectBytes = try number(argument)
            case "--cipher": options.cipher = try value(argument)
            case "--mac": options.mac = try value(argument)
            case "-h", "--help": print(usage); exit(0)
            default: throw BenchError("unknown option '\(argument)'.\n\(usage)")
            }
        }
        guard !options.key.isEmpty, options.targetPort > 0 else {
            throw BenchError("--key and --target-port are required.\n\(usage)")
        }
        guard options.window <= Int(UInt32.max), options.packet > 0 else {
            throw BenchError("--window must fit in 32 bits and --packet must be positive.")
        }
        return options
    }
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// A TCP connection to sshd (blocking during setup, the loop switches libssh2 to non-blocking).
func connectTCP(host: String, port: Int) throws -> Int32 {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
        throw BenchError("--host '\(host)' is not an IPv4 address.")
    }
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
    var one: Int32 = 1
    setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
        }
    }
    guard result == 0 else {
        throw BenchError("connect \(host):\(port): \(String(cString: strerror(errno)))")
    }
    return fd
}

/// One libssh2 session on one socket.
final class Session {
    let session: OpaquePointer
    let socket: Int32

    init(options: Options) throws {
        socket = try connectTCP(host: options.host, port: options.port)
        guard let session = libssh2_session_init_ex(nil, nil, nil, nil) else {
            throw BenchError("libssh2_session_init_ex failed")
        }
        self.session = session
        libssh2_session_set_blocking(session, 1)
        for (method, value) in [(LIBSSH2_METHOD_CRYPT_CS, options.cipher), (LIBSSH2_METHOD_CRYPT_SC, options.cipher),
                                (LIBSSH2_METHOD_MAC_CS, options.mac), (LIBSSH2_METHOD_MAC_SC, options.mac)] {
            try check(libssh2_session_method_pref(session, method, value), "method_pref \(value)")
        }
        try check(libssh2_session_handshake(session, socket), "handshake")
        try verifyHostKey(options)
        let status = libssh2_userauth_publickey_fromfile_ex(
            session, options.user, UInt32(options.user.utf8.count), nil, options.key, nil)
        try check(status, "public key authentication as \(options.user) with \(options.key)")
    }

    func check(_ status: Int32, _ what: String) throws {
        guard status != 0 else { return }
        throw BenchError("\(what): \(lastError())")
    }

    func lastError() -> String {
        var message: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        let code = libssh2_session_last_error(session, &message, &length, 0)
        return "\(message.map { String(cString: $0) } ?? "unknown error") (libssh2 \(code))"
    }

    private func verifyHostKey(_ options: Options) throws {
        guard let path = options.knownHosts else {
            guard options.host.hasPrefix("127.") else {
                throw BenchError("--known-hosts is required for a non-loopback --host.")
            }
            return
        }
        var length = 0
        var type: Int32 = 0
        guard let key = libssh2_session_hostkey(session, &length, &type),
              let hosts = libssh2_knownhost_init(session) else {
            throw BenchError("no host key: \(lastError())")
        }
        defer { libssh2_knownhost_free(hosts) }
        guard libssh2_knownhost_readfile(hosts, path, LIBSSH2_KNOWNHOST_FILE_OPENSSH) >= 0 else {
            throw BenchError("cannot read --known-hosts \(path): \(lastError())")
        }
        let mask = LIBSSH2_KNOWNHOST_TYPE_PLAIN | LIBSSH2_KNOWNHOST_KEYENC_RAW
        let result = libssh2_knownhost_checkp(hosts, options.host, Int32(options.port), key, length, mask, nil)
        guard result == LIBSSH2_KNOWNHOST_CHECK_MATCH else {
            throw BenchError("host key of \(options.host):\(options.port) is not in \(path) (check result \(result)).")
        }
    }

    /// Waits until the socket is ready in the directions libssh2 is blocked on.
    func waitSocket() throws {
        let directions = libssh2_session_block_directions(session)
        var events: Int16 = 0
        if directions & LIBSSH2_SESSION_BLOCK_INBOUND != 0 { events |= Int16(POLLIN) }
        if directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { events |= Int16(POLLOUT) }
        if events == 0 { events = Int16(POLLIN) }
        var descriptor = pollfd(fd: socket, events: events, revents: 0)
        let ready = poll(&descriptor, 1, stallTimeoutMilliseconds)
        if ready == 0 { throw BenchError("no progress for \(stallTimeoutMilliseconds / 1000) s") }
        if ready < 0 && errno != EINTR { throw BenchError("poll: \(String(cString: strerror(errno)))") }
    }

    /// Retries a libssh2 call until it stops returning EAGAIN.
    func retry(_ what: String, _ call: () -> Int32) throws {
        while true {
            let status = call()
            if status == LIBSSH2_ERROR_EAGAIN { try waitSocket(); continue }
            if status < 0 { throw BenchError("\(what): \(lastError())") }
            return
        }
    }

    /// Opens a direct-tcpip channel with an explicit window and packet size (RFC 4254 §7.2).
    func openDirectTCPIP(host: String, port: Int, window: Int, packet: Int) throws -> OpaquePointer {
        var message: [UInt8] = []
        func string(_ s: String) { uint32(UInt32(s.utf8.count)); message += Array(s.utf8) }
        func uint32(_ v: UInt32) { message += [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
        string(host); uint32(UInt32(port)); string("127.0.0.1"); uint32(0)
        let type = "direct-tcpip"
        while true {
            let channel = message.withUnsafeBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) {
                    libssh2_channel_open_ex(session, type, UInt32(type.utf8.count), UInt32(window), UInt32(packet),
                                            $0.baseAddress, UInt32(message.count))
                }
            }
            if let channel { return channel }
            guard libssh2_session_last_errno(session) == LIBSSH2_ERROR_EAGAIN else {
                throw BenchError("direct-tcpip to \(host):\(port): \(lastError())")
            }
            try waitSocket()
        }
    }

    deinit {
        libssh2_session_set_blocking(session, 1)
        libssh2_session_disconnect_ex(session, SSH_DISCONNECT_BY_APPLICATION, "done", "")
        libssh2_session_free(session)
        close(socket)
    }
}

/// Reads the channel until EOF, writing everything to `fd`.
func download(_ ssh: Session, _ channel: OpaquePointer, into fd: Int32, buffer size: Int) throws -> Int {
    let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
    defer { buffer.deallocate() }
    var total = 0
    while true {
        let n = libssh2_channel_read_ex(channel, 0, buffer, size)
        if n > 0 {
            var written = 0
            while written < n {
                let w = write(fd, buffer + written, n - written)
                if w < 0 { if errno == EINTR { continue }; throw BenchError("write: \(String(cString: strerror(errno)))") }
                written += w
            }
            total += n
        } else if n == 0 {
            if libssh2_channel_eof(channel) != 0 { return total }
            try ssh.waitSocket()
        } else if n == Int(LIBSSH2_ERROR_EAGAIN) {
            try ssh.waitSocket()
        } else {
            throw BenchError("channel read: \(ssh.lastError())")
        }
    }
}

/// Writes the file at `fd` into the channel, then sends EOF and waits for the far end's EOF.
func upload(_ ssh: Session, _ channel: OpaquePointer, from fd: Int32, buffer size: Int) throws -> Int {
    let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: size)
    defer { buffer.deallocate() }
    var total = 0
    while true {
        let got = read(fd, buffer, size)
        if got < 0 { if errno == EINTR { continue }; throw BenchError("read: \(String(cString: strerror(errno)))") }
        if got == 0 { break }
        var sent = 0
        while sent < got {
            let n = libssh2_channel_write_ex(channel, 0, buffer + sent, got - sent)
            if n >= 0 { sent += n; continue }
            if n == Int(LIBSSH2_ERROR_EAGAIN) { try ssh.waitSocket(); continue }
            throw BenchError("channel write: \(ssh.lastError())")
        }
        total += got
    }
    try ssh.retry("send EOF") { libssh2_channel_send_eof(channel) }
    // The sink closes its socket once the file is complete; its EOF means the upload is on disk.
    let devNull = open("/dev/null", O_WRONLY)
    defer { close(devNull) }
    let drained = try download(ssh, channel, into: devNull, buffer: size)
    guard drained == 0 else { throw BenchError("the sink sent \(drained) unexpected bytes") }
    return total
}

func run() throws {
    let options = try Options.parse(Array(CommandLine.arguments.dropFirst()))
    guard libssh2_init(0) == 0 else { throw BenchError("libssh2_init failed") }
    let ssh = try Session(options: options)
    let fd = options.upload
        ? open(options.input, O_RDONLY)
        : open(options.output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else {
        throw BenchError("cannot open \(options.upload ? options.input : options.output): \(String(cString: strerror(errno)))")
    }
    defer { close(fd) }
    libssh2_session_set_blocking(ssh.session, 0)
    let cpuStart = cpuSeconds()
    let start = now()
    let channel = try ssh.openDirectTCPIP(host: options.targetHost, port: options.targetPort,
                                          window: options.window, packet: options.packet)
    let bytes = options.upload
        ? try upload(ssh, channel, from: fd, buffer: options.buffer)
        : try download(ssh, channel, into: fd, buffer: options.buffer)
    let seconds = now() - start
    let cpu = cpuSeconds() - cpuStart
    try ssh.retry("channel close") { libssh2_channel_close(channel) }
    try ssh.retry("channel wait closed") { libssh2_channel_wait_closed(channel) }
    libssh2_channel_free(channel)
    if let expected = options.expectBytes, expected != bytes {
        throw BenchError("transferred \(bytes) bytes, expected \(expected)")
    }
    let rate = Double(bytes) / seconds / megabyte
    print("direction=\(options.upload ? "upload" : "download") bytes=\(bytes) seconds=\(format3(seconds)) "
        + "MBps=\(format3(rate)) cpu=\(format3(cpu)) window=\(options.window)")
}

func format3(_ value: Double) -> String {
    let scaled = Int((value * 1000).rounded())
    let fraction = String(abs(scaled) % 1000)
    return "\(scaled / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
}

do {
    try run()
} catch {
    let message = "libssh2-raw-bench: \(error)\n"
    _ = write(STDERR_FILENO, message, message.utf8.count)
    exit(1)
}
