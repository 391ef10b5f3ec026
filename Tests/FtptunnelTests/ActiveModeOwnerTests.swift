import Foundation
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
        let fd: Int32
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

        deinit { close(fd) }
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
        #expect(site.tunnel.output.contains("belongs to uid 0, not to the client's uid 65534"), "\(site.tunnel.output)")

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
        #expect(site.tunnel.output.contains("belongs to uid 0, not to the client's uid 65534"), "\(site.tunnel.output)")
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
            #expect(world.bridge.output.contains("belongs to uid 65534, not to the client's uid 0"), "\(world.bridge.output)")
        }
        #expect(!world.bridge.output.contains("its socket belongs to uid"), "\(world.bridge.output)")
    }
}
