import Foundation

/// A minimal FTP server on 127.0.0.2 that writes every command line it receives to its output (`RECEIVED <line>`)
/// and answers it: 331 to USER, 230 to PASS, a 227 naming an unused port to PASV, 200 to anything else. For tests
/// that must prove what never reaches a server.
public final class RecordingFTPServer: @unchecked Sendable {
    public let host = LoopbackNet.serverSide
    public let port: Int
    private let process: ManagedProcess

    public init() throws {
        port = try LoopbackNet.freePort(on: host)
        let script = """
        import socket, sys, threading
        def serve(conn):
            conn.sendall(b"220 recording server\\r\\n")
            pending = b""
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                pending += data
                while b"\\n" in pending:
                    line, pending = pending.split(b"\\n", 1)
                    line = line.rstrip(b"\\r")
                    sys.stdout.write("RECEIVED %r\\n" % line.decode("latin-1")); sys.stdout.flush()
                    verb = line.split(b" ", 1)[0].upper()
                    reply = {b"USER": b"331 password", b"PASS": b"230 in",
                             b"PASV": b"227 Entering Passive Mode (127,0,0,1,4,1)."}.get(verb, b"200 OK")
                    conn.sendall(reply + b"\\r\\n")
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((sys.argv[1], int(sys.argv[2])))
        listener.listen(16)
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
        """
        process = try ManagedProcess("/usr/bin/python3", ["-u", "-c", script, host, "\(port)"])
        try LoopbackNet.waitForGreeting(host, port, prefix: "220")
    }

    /// The command lines received so far, in order.
    public var receivedLines: [String] {
        process.output.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("RECEIVED ") else { return nil }
            return String(line.dropFirst("RECEIVED ".count))
        }
    }

    public func stop() { process.stop() }
    deinit { stop() }
}
