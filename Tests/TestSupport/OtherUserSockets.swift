import Foundation
import Posix

/// Sockets owned by another local user (`runuser -u USER -- python3`): listeners of every kind and outgoing
/// connections, so tests can ask the kernel who owns them, and see whether anything reached a listener. Each
/// listener reads the first line of every connection it accepts and reports it, in accept order.
public final class OtherUserSockets: @unchecked Sendable {
    public enum Listener: String, CaseIterable, Sendable {
        /// 127.0.0.1
        case ipv4
        /// ::1, IPV6_V6ONLY
        case ipv6
        /// :: without IPV6_V6ONLY: takes IPv4 connections too (as Java and Python's dual-stack servers do)
        case dualStack = "dual"
        /// :: with IPV6_V6ONLY
        case ipv6Only = "v6only"
    }

    public let user: String
    public let process: ManagedProcess

    /// Debian's python3 (`make deps`): another user may not be able to run a python3 earlier in root's PATH.
    public static let systemPython = "/usr/bin/python3"

    static let script = """
    import socket, sys, threading
    lock = threading.Lock()
    def say(*words):
        with lock:
            print(*words, flush=True)
    def serve(kind, listener):
        while True:
            connection, _ = listener.accept()
            connection.settimeout(10)
            data = b''
            try:
                while not data.endswith(b'\\n') and len(data) < 200:
                    chunk = connection.recv(200)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            say('accepted', kind, data.decode(errors='replace').strip() or '-')
            connection.close()
    keep = []
    for spec in sys.argv[1:]:
        verb, _, argument = spec.partition('=')
        if verb == 'listen':
            argument, _, port = argument.partition('/')
            family = socket.AF_INET if argument == 'ipv4' else socket.AF_INET6
            listener = socket.socket(family)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if argument == 'dual' else 1)
            host = {'ipv4': '127.0.0.1', 'ipv6': '::1', 'dual': '::', 'v6only': '::'}[argument]
            listener.bind((host, int(port or 0)))
            listener.listen(16)
            say('listening', argument, listener.getsockname()[1])
            threading.Thread(target=serve, args=(argument, listener), daemon=True).start()
        elif verb == 'connect':
            host, _, port = argument.rpartition(':')
            connection = socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)
            connection.connect((host, int(port)))
            keep.append(connection)
            local = connection.getsockname()
            say('connected', argument, local[0], local[1])
    say('ready')
    sys.stdin.read()
    """

    /// Starts the sockets: `listeners` (on `ports[listener]` when given, else any free port), then one connection to
    /// each `host:port` of `connections` (IPv6 hosts bare, e.g. `::ffff:127.0.0.1:2121`).
    public init(user: String = "nobody", listeners: [Listener] = [], ports: [Listener: Int] = [:],
                connections: [String] = []) throws {
        self.user = user
        process = try ManagedProcess(try which("runuser"), ["-u", user, "--", Self.systemPython, "-c", Self.script]
            + listeners.map { "listen=\($0.rawValue)/\(ports[$0] ?? 0)" } + connections.map { "connect=\($0)" })
        try process.waitForOutput(containing: "ready", seconds: 20)
    }

    private var lines: [[Substring]] { process.stdout.split(separator: "\n").map { $0.split(separator: " ") } }

    /// The port `listener` listens on.
    public func port(of listener: Listener) -> Int? {
        lines.first { $0.count == 3 && $0[0] == "listening" && $0[1] == listener.rawValue }.flatMap { Int($0[2]) }
    }

    /// The local address and port of the connection made to `target` (as given to `init`).
    public func connection(to target: String) -> (host: String, port: Int)? {
        guard let line = lines.first(where: { $0.count == 4 && $0[0] == "connected" && $0[1] == target }),
              let port = Int(line[3]) else { return nil }
        return (String(line[2]), port)
    }

    /// First lines of the connections `listener` accepted so far, in order ("-" for none).
    public func accepted(on listener: Listener) -> [String] {
        lines.filter { $0.count >= 3 && $0[0] == "accepted" && $0[1] == listener.rawValue }
            .map { $0[2...].joined(separator: " ") }
    }

    /// Connects to `listener` from this process and sends a marker line, then waits until the listener reports
    /// it: connections made before (by anyone) were accepted, and reported, before it. Returns all it accepted.
    public func acceptedUpToAMarker(on listener: Listener, host: String) throws -> [String] {
        guard let port = port(of: listener), let address = SocketAddress(host: host, port: port),
              let fd = try? PosixSocket.connect(to: address, milliseconds: 5000, nonBlocking: false) else {
            throw ProcessFailure(command: "connect to \(user)'s \(listener) listener", status: -1, output: process.output)
        }
        defer { close(fd) }
        let marker = Array("marker-\(getpid())\n".utf8)
        _ = marker.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        try Deadline.wait(for: "\(user)'s \(listener) listener to report the marker") {
            accepted(on: listener).contains("marker-\(getpid())")
        }
        return accepted(on: listener)
    }
}
