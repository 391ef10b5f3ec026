import Foundation
import Glibc
import Posix
import Testing
import TestSupport

/// Active mode connects only to the control client's own sockets. The tunnel (or bridge) runs as root, as in the
/// report: before, any local user could PORT to a root-owned listener (root's own bridge, any root service) and
/// the tunnel delivered data there as root. Now a PORT/EPRT target must be a listener of the client's uid on the
/// client's address: anything else is 501, nothing connects to it (a marker connected afterwards is the first
/// thing that listener ever accepts), and the log says why; the client's own listener still works, byte-exact,
/// over IPv4, IPv6 and from an IPv4-mapped (dual-stack) client.
@Suite(.serialized) struct ActiveModeOwnerTests {
    static let mebibyte = 1 << 20

    /// Logs in anonymously to HOST PORT, sends VICTIM (a PORT/EPRT at someone else's listener) and prints its
    /// outcome, then downloads PATH in active mode to its own listener and prints the SHA-256. `mapped`: the
    /// client is a dual-stack socket (HOST ::ffff:127.0.0.1) listening on :: and announcing PORT 127.0.0.1.
    static let client = """
    import ftplib, hashlib, socket, sys
    host, port, victim, path, style = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    ftp = ftplib.FTP()
    ftp.connect(host, port, timeout=30)
    print('control family', ftp.sock.family.name, ftp.sock.getsockname()[0], flush=True)
    ftp.login('anonymous', 'test@')
    try:
        print('victim accepted', ftp.sendcmd(victim), flush=True)
    except ftplib.error_perm as e:
        print('victim refused', e, flush=True)
    ftp.set_pasv(False)
    if style == 'mapped':
        def makeport():
            listener = socket.create_server(('::', 0), family=socket.AF_INET6, dualstack_ipv6=True)
            ftp.sendport('127.0.0.1', listener.getsockname()[1])
            return listener
        ftp.makeport = makeport
    digest = hashlib.sha256()
    ftp.retrbinary('RETR ' + path, digest.update)
    print('sha256', digest.hexdigest(), flush=True)
    ftp.quit()
    """

    /// Runs `client` as `user` (nil: the test runner).
    static func runClient(as user: String?, host: String, port: Int, victim: String, path: String,
                          mapped: Bool = false) throws -> CommandResult {
        let command = [OtherUserSockets.systemPython, "-c", client, host, "\(port)", victim, path, mapped ? "mapped" : "plain"]
        guard let user else { return try runCommand(command[0], Array(command.dropFirst()), seconds: 90) }
        return try runCommand("runuser", ["-u", user, "--"] + command, seconds: 90)
    }

    static func portCommand(_ host: String, _ port: Int) -> String {
        host.contains(":") ? "EPRT |2|\(host)|\(port)|" : "PORT \(host.replacingOccurrences(of: ".", with: ",")),\(port >> 8),\(port & 0xFF)"
    }

    /// A listener of the test runner (root) that nobody else's data must reach.
    final class RunnerListener {
        private(set) var fd: Int32
        let address: SocketAddress

        init(host: String) throws {
            let any = try #require(SocketAddress(host: host, port: 0))
            fd = try PosixSocket.bound(to: any, nonBlocking: false)
            try PosixSocket.listen(fd, on: any)
            address = try #require(PosixSocket.localAddress(fd))
        }

        /// Connects a marker and accepts: the first connection accepted must be the marker's (nothing came before).
        func firstAcceptedIsTheMarker() throws -> Bool {
            let marker = try PosixSocket.connect(to: address, milliseconds: 5000, nonBlocking: false)
            defer { close(marker) }
            let markerAddress = try #require(PosixSocket.localAddress(marker))
            guard try PosixPoll.wait(fd, events: Int16(POLLIN), milliseconds: 5000),
                  case .done(let (accepted, peer)) = try PosixSocket.accept(fd, nonBlocking: false) else { return false }
            close(accepted)
            return peer == markerAddress
        }

        /// Stops listening (the port is free for anyone).
        func stop() {
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }

        deinit { stop() }
    }

    final class RewriteWorld {
        let world: RewriteTransferTests.World
        let pasvd: PasvdFixture
        let tunnel: RewriteTunnelProcess
        let expected: String

        init() throws {
            world = try RewriteTransferTests.World(mebibytes: 3)
            chmod(world.work.path, 0o777)
            pasvd = try PasvdFixture(root: world.root.path, extraArguments: [
                "--anonymous", "--writable", "--anonymous-account", PasvdScenario.runnerAccount])
            tunnel = try world.tunnel(ftpPort: pasvd.port)
            expected = try TestFiles.sha256(world.root.file("down.bin"))
        }
    }

    static func expectRefusedAndOwnWorked(_ result: CommandResult, verb: String, expected: String, log: String) {
        #expect(result.status == 0, "\(result.output)\n\(log)")
        #expect(result.stdout.contains("victim refused 501 \(verb) refused: active mode connects only to a port your own user listens on"),
                "\(result.output)\n\(log)")
        #expect(result.stdout.contains("sha256 \(expected)"), "\(result.output)\n\(log)")
    }

    // MARK: Rewrite mode

    /// As nobody through root's tunnel: PORT at root's listener is 501 and never connected; nobody's own
    /// listener gets the file (ftplib active mode, curl -P -), over IPv4.
    @Test func rewriteModeRefusesAnotherUsersListenerOverIPv4() throws {
        let site = try RewriteWorld()
        let victim = try RunnerListener(host: "127.0.0.1")
        let result = try Self.runClient(as: "nobody", host: "127.0.0.1", port: site.tunnel.localPort,
                                        victim: Self.portCommand("127.0.0.1", victim.address.port), path: "down.bin")
        Self.expectRefusedAndOwnWorked(result, verb: "PORT", expected: site.expected, log: site.tunnel.output)
        #expect(try victim.firstAcceptedIsTheMarker(), "root's listener was connected to\n\(site.tunnel.output)")
        #expect(site.tunnel.output.contains("refused PORT to 127.0.0.1:\(victim.address.port)"), "\(site.tunnel.output)")
        #expect(site.tunnel.output.contains("belongs to uid \(getuid()), not to the client's uid 65534"), "\(site.tunnel.output)")

        let out = site.world.work.file("curl-active-nobody.bin")
        let curl = try runCommand("runuser", ["-u", "nobody", "--", "curl", "-sS", "--max-time", "60", "-P", "-",
                                              "\(site.tunnel.url)/down.bin", "-o", out], seconds: 90)
        #expect(curl.status == 0, "\(curl.output)\n\(site.tunnel.output)")
        #expect(try TestFiles.sha256(out) == site.expected)
        #expect(site.tunnel.process.isRunning)
    }

    /// The same over IPv6: EPRT at root's [::1] listener is 501; nobody's own EPRT listener works.
    @Test func rewriteModeRefusesAnotherUsersListenerOverIPv6() throws {
        let site = try RewriteWorld()
        let victim = try RunnerListener(host: "::1")
        let result = try Self.runClient(as: "nobody", host: "::1", port: site.tunnel.localPort,
                                        victim: Self.portCommand("::1", victim.address.port), path: "down.bin")
        #expect(result.stdout.contains("control family AF_INET6 ::1"), "\(result.output)")
        Self.expectRefusedAndOwnWorked(result, verb: "EPRT", expected: site.expected, log: site.tunnel.output)
        #expect(try victim.firstAcceptedIsTheMarker(), "root's listener was connected to\n\(site.tunnel.output)")
        #expect(site.tunnel.output.contains("belongs to uid \(getuid()), not to the client's uid 65534"), "\(site.tunnel.output)")
    }

    /// A dual-stack client (an AF_INET6 socket connected to ::ffff:127.0.0.1, listening on ::): its owner is
    /// found, its own listener works, root's IPv4 listener is still refused.
    @Test func rewriteModeFindsAnIPv4MappedClientsOwner() throws {
        let site = try RewriteWorld()
        let victim = try RunnerListener(host: "127.0.0.1")
        let result = try Self.runClient(as: "nobody", host: "::ffff:127.0.0.1", port: site.tunnel.localPort,
                                        victim: Self.portCommand("127.0.0.1", victim.address.port), path: "down.bin",
                                        mapped: true)
        #expect(result.stdout.contains("control family AF_INET6 ::ffff:127.0.0.1"), "\(result.output)")
        Self.expectRefusedAndOwnWorked(result, verb: "PORT", expected: site.expected, log: site.tunnel.output)
        #expect(try victim.firstAcceptedIsTheMarker(), "root's listener was connected to\n\(site.tunnel.output)")
    }

    /// PORT at the client's own uid but another loopback address is refused too ("on the client's address").
    @Test func rewriteModeRefusesAnotherAddress() throws {
        let site = try RewriteWorld()
        let elsewhere = try RunnerListener(host: "127.0.0.3")
        let result = try Self.runClient(as: nil, host: "127.0.0.1", port: site.tunnel.localPort,
                                        victim: Self.portCommand("127.0.0.3", elsewhere.address.port), path: "down.bin")
        Self.expectRefusedAndOwnWorked(result, verb: "PORT", expected: site.expected, log: site.tunnel.output)
        #expect(try elsewhere.firstAcceptedIsTheMarker(), "\(site.tunnel.output)")
        #expect(site.tunnel.output.contains("is not on the client's address 127.0.0.1"), "\(site.tunnel.output)")
    }

    // MARK: Legitimate active-mode clients

    /// Apache Commons Net in active mode: Java's sockets are dual-stack (AF_INET6, the control connection from
    /// ::ffff:127.0.0.1) and it listens on ::ffff:127.0.0.1 and announces PORT 127.0.0.1.
    static let commonsNetClient = """
    import org.apache.commons.net.ftp.FTP;
    import org.apache.commons.net.ftp.FTPClient;
    import java.io.FileOutputStream;
    import java.io.IOException;
    import java.io.OutputStream;

    public class ActiveGet {
        public static void main(String[] args) throws Exception {
            FTPClient ftp = new FTPClient();
            ftp.setConnectTimeout(30000);
            ftp.setDefaultTimeout(30000);
            ftp.setDataTimeout(30000);
            ftp.connect(args[0], Integer.parseInt(args[1]));
            if (!ftp.login("anonymous", "test@")) throw new IOException("login: " + ftp.getReplyString());
            ftp.setFileType(FTP.BINARY_FILE_TYPE);
            ftp.enterLocalActiveMode();
            try (OutputStream out = new FileOutputStream(args[3])) {
                if (!ftp.retrieveFile(args[2], out)) throw new IOException("RETR: " + ftp.getReplyString());
            }
            System.out.println("done from " + ftp.getLocalAddress());
            ftp.logout();
            ftp.disconnect();
        }
    }
    """

    /// Downloads `path` from HOST PORT in active mode with Net::FTP, inetutils ftp, Commons Net and curl -P, as
    /// `user` (nil: the test runner), into `work`; every copy must hash like `expected`.
    static func legacyClientsDownload(as user: String?, host: String, port: Int, path: String, work: TempDirectory,
                                      expected: String, log: () -> String) throws {
        let source = try work.write("ActiveGet.java", commonsNetClient)
        let out = { (name: String) in work.file("\(name)-\(user ?? "runner").bin") }
        let perl = """
        use Net::FTP; my ($h, $p, $path, $out) = @ARGV;
        my $f = Net::FTP->new($h, Port => $p, Passive => 0, Timeout => 30) or die "connect: $@";
        $f->login('anonymous', 'test@') or die 'login: ' . $f->message; $f->binary;
        $f->get($path, $out) or die 'get: ' . $f->message; $f->quit;
        """
        let clients: [(name: String, command: [String], input: String?)] = [
            ("net-ftp", ["/usr/bin/perl", "-e", perl, host, "\(port)", path, out("net-ftp")], nil),
            ("inetutils-ftp", ["/usr/bin/inetutils-ftp", "-A", "-n", "-v", host, "\(port)"],
             "user anonymous test@\nbinary\nget \(path) \(out("inetutils-ftp"))\nquit\n"),
            ("commons-net", ["/usr/bin/java", "-cp", "/usr/share/java/commons-net.jar", source, host, "\(port)", path,
                             out("commons-net")], nil),
            ("curl", ["/usr/bin/curl", "-sS", "--max-time", "60", "-P", "-", "ftp://\(host):\(port)/\(path)", "-o", out("curl")], nil),
        ]
        for client in clients {
            let result = user.map { user in
                Result { try runCommand("runuser", ["-u", user, "--"] + client.command, seconds: 120, input: client.input) }
            } ?? Result { try runCommand(client.command[0], Array(client.command.dropFirst()), seconds: 120, input: client.input) }
            let finished = try result.get()
            #expect(finished.status == 0, "\(client.name): \(finished.output)\n\(log())")
            #expect((try? TestFiles.sha256(out(client.name))) == expected, "\(client.name): \(finished.output)\n\(log())")
        }
    }

    /// Net::FTP, inetutils ftp, Commons Net and curl -P keep working in active mode, as another user (nobody)
    /// through root's rewrite tunnel and as the owner through the bridge.
    @Test func legitimateActiveModeClientsKeepWorking() throws {
        let site = try RewriteWorld()
        try Self.legacyClientsDownload(as: "nobody", host: "127.0.0.1", port: site.tunnel.localPort, path: "down.bin",
                                       work: site.world.work, expected: site.expected, log: { site.tunnel.output })
        #expect(!site.tunnel.output.contains("refused"), "\(site.tunnel.output)")

        let bridge = try SFTPBridgeWorld()
        chmod(bridge.work.path, 0o777)
        try TestFiles.random(at: bridge.remote("down.bin"), size: 3 * Self.mebibyte, seed: 18)
        try Self.legacyClientsDownload(as: nil, host: "127.0.0.1", port: bridge.bridge.localPort, path: "down.bin",
                                       work: bridge.work, expected: try TestFiles.sha256(bridge.remote("down.bin")),
                                       log: { bridge.bridge.output })
        #expect(!bridge.bridge.output.contains("refused"), "\(bridge.bridge.output)")
    }

    // MARK: Mode sftp (the bridge)

    /// The bridge admits only its owner (root here); that owner's PORT/EPRT at nobody's listeners is refused at
    /// once (501) and never connected, over IPv4, IPv6 and from a dual-stack client (which the bridge used to
    /// refuse at the door: its socket is in the IPv6 table); the client's own listeners work, byte-exact.
    @Test func theBridgeRefusesAnotherUsersListener() throws {
        let world = try SFTPBridgeWorld()
        try TestFiles.random(at: world.remote("down.bin"), size: 3 * Self.mebibyte, seed: 17)
        let expected = try TestFiles.sha256(world.remote("down.bin"))
        let nobody = try OtherUserSockets(listeners: [.ipv4, .ipv6, .dualStack])
        let cases: [(host: String, listener: OtherUserSockets.Listener, victimHost: String, mapped: Bool, verb: String)] = [
            ("127.0.0.1", .ipv4, "127.0.0.1", false, "PORT"),
            ("::1", .ipv6, "::1", false, "EPRT"),
            ("::ffff:127.0.0.1", .dualStack, "127.0.0.1", true, "PORT"),
        ]
        for item in cases {
            let port = try #require(nobody.port(of: item.listener))
            let result = try Self.runClient(as: nil, host: item.host, port: world.bridge.localPort,
                                            victim: Self.portCommand(item.victimHost, port), path: "down.bin", mapped: item.mapped)
            Self.expectRefusedAndOwnWorked(result, verb: item.verb, expected: expected, log: world.bridge.output)
            let accepted = try nobody.acceptedUpToAMarker(on: item.listener, host: item.victimHost)
            #expect(accepted.count == 1, "\(item.listener): \(accepted)\n\(world.bridge.output)")
            #expect(world.bridge.output.contains("belongs to uid 65534, not to the client's uid \(getuid())"), "\(world.bridge.output)")
        }
        #expect(!world.bridge.output.contains("its socket belongs to uid"), "\(world.bridge.output)")
    }

    /// The bridge connects at RETR, maybe long after the PORT: the client's listener closed and another user's
    /// took its port meanwhile. The target is looked up again before the connect: 425, nothing reaches it.
    @Test func theBridgeChecksThePortAgainAtTransferTime() throws {
        let world = try SFTPBridgeWorld()
        try TestFiles.random(at: world.remote("down.bin"), size: Self.mebibyte, seed: 19)
        let control = try RawFTPControl(host: LoopbackNet.clientSide, port: world.bridge.localPort)
        #expect(control.readReply()?.hasPrefix("220 ") == true)
        #expect(control.command("USER me")?.hasPrefix("230 ") == true)
        let own = try RunnerListener(host: "127.0.0.1")
        let port = own.address.port
        #expect(control.command(Self.portCommand("127.0.0.1", port))?.hasPrefix("200 ") == true)
        own.stop()
        let nobody = try OtherUserSockets(listeners: [.ipv4], ports: [.ipv4: port])
        #expect(nobody.port(of: .ipv4) == port, "\(nobody.process.output)")
        let reply = control.command("RETR down.bin") ?? "nil"
        #expect(reply.hasPrefix("425 Cannot open data connection: PORT/EPRT refused"), "\(reply)\n\(world.bridge.output)")
        #expect(try nobody.acceptedUpToAMarker(on: .ipv4, host: "127.0.0.1").count == 1, "\(world.bridge.output)")
        #expect(world.bridge.output.contains("active connection to 127.0.0.1:\(port) refused: the socket listening at 127.0.0.1:\(port) belongs to uid 65534"),
                "\(world.bridge.output)")
        #expect(control.command("NOOP")?.hasPrefix("200") == true)
    }
}
