import Foundation

/// The recipe topology for `Sessions N` tests: a real sshd, vsftpd on 127.0.0.2 advertising 127.0.0.1 with
/// 16 passive ports (enough for many concurrent transfers), uploads into `upload/`.
public final class PoolRecipe: @unchecked Sendable {
    public let sshd: SSHDFixture
    public let root: TempDirectory
    public let work: TempDirectory
    public let vsftpd: VsftpdFixture
    public let knownHosts: String

    public init() throws {
        sshd = try SSHDFixture()
        root = try TempDirectory("pool-root")
        work = try TempDirectory("pool-work")
        // vsftpd picks a passive port at random and gives up (`500 OOPS: vsf_sysutil_bind`) after 9 picks that are
        // all taken: with 12 transfers at once in 16 ports that happens to ~1 EPSV in 13. 64 ports make it negligible.
        vsftpd = try VsftpdFixture(root: root.path, pasvAddress: "127.0.0.1", passivePortCount: 64, writable: true)
        knownHosts = try sshd.writeKnownHosts(in: work)
    }

    /// `ftptunnel connect --mode fixed -v` to this recipe (`identity` defaults to the fixture's user key).
    public func tunnel(sessions: Int?, identity: String? = nil, environment: [String: String] = [:]) throws -> TunnelProcess {
        try TunnelProcess(sshd: sshd, knownHosts: knownHosts, ftpPort: vsftpd.port, passivePorts: vsftpd.passivePorts,
                          identity: identity ?? sshd.userKey,
                          extraArguments: sessions.map { ["-o", "Sessions=\($0)"] } ?? [], environment: environment)
    }

    /// One per authenticated SSH session (`SSHDFixture.authenticatedSessions`).
    public var authenticatedSessions: Int { sshd.authenticatedSessions }
}

/// An SSH_ASKPASS program that records every invocation (one line per call in `log`) before answering.
public enum CountingAskpass {
    public static func environment(secret: String, log: String, in directory: TempDirectory) throws -> [String: String] {
        let script = try directory.write("counting-askpass.sh",
                                         "#!/bin/sh\necho asked >> '\(log)'\nprintf '%s\\n' '\(secret)'\n", mode: 0o700)
        return ["SSH_ASKPASS": script, "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"]
    }

    /// How many times the program ran.
    public static func invocations(_ log: String) -> Int {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").count
    }
}

/// A TCP proxy on 127.0.0.1 that sends its first connection to `ports[0]`, the second to `ports[1]`, and so on
/// (the last port for the rest): one address that turns into another SSH server after the first login,
/// as a man-in-the-middle would.
public final class SwitchingTCPProxy: @unchecked Sendable {
    public let port: Int
    private let process: ManagedProcess

    static let script = """
    import socket, sys, threading
    targets = [int(a) for a in sys.argv[1:]]
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print("port", listener.getsockname()[1], flush=True)
    def pump(source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    count = 0
    while True:
        client, _ = listener.accept()
        target = targets[min(count, len(targets) - 1)]
        count += 1
        server = socket.create_connection(("127.0.0.1", target))
        threading.Thread(target=pump, args=(client, server), daemon=True).start()
        threading.Thread(target=pump, args=(server, client), daemon=True).start()
    """

    public init(ports: [Int]) throws {
        let process = try ManagedProcess(try which("python3"), ["-c", Self.script] + ports.map(String.init))
        self.process = process
        try process.waitForOutput(containing: "port ", seconds: 20)
        port = try Deadline.value(of: "proxy port") {
            process.stdout.split(whereSeparator: \.isNewline).first { $0.hasPrefix("port ") }.flatMap { Int($0.dropFirst(5)) }
        }
    }

    deinit { process.stop() }
}
