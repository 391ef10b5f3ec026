import Foundation
import Testing
import TestSupport

/// Bastions with real sshd processes (TESTING.md "Bastions"): the destination's sshd on 127.0.0.3 with its own host
/// key, bastions on 127.0.0.1 (and 127.0.0.4) at LogLevel DEBUG1, whose logs show each direct-tcpip channel they
/// carry; vsftpd on 127.0.0.2 behind the destination. Every transfer is hashed at both ends.
@Suite(.serialized) struct BastionTests {
    /// The destination, its FTP server, up to two bastions, one user key every sshd accepts, one known_hosts file
    /// trusting every host, and an ssh_config (FTPTUNNEL_SSH_CONFIG) with `Host jump1`/`Host jump2` blocks.
    final class World {
        let target: SSHDFixture
        let bastions: [SSHDFixture]
        let vsftpd: VsftpdFixture
        let root: TempDirectory
        let work: TempDirectory
        let knownHosts: String
        private(set) var sshConfig = ""

        static let secondBastionHost = "127.0.0.4"

        init(bastionCount: Int = 1, firstBastion: SSHDFixture.Options = World.bastionOptions(on: LoopbackNet.clientSide),
             targetBlock: [String] = [], targetConfig: [String] = []) throws {
            var targetOptions = SSHDFixture.Options()
            targetOptions.listenAddress = "127.0.0.3"
            targetOptions.extraConfig = targetConfig
            target = try SSHDFixture(targetOptions)
            var bastions = [try SSHDFixture(firstBastion)]
            if bastionCount > 1 { bastions.append(try SSHDFixture(World.bastionOptions(on: World.secondBastionHost))) }
            self.bastions = bastions
            for bastion in bastions { try bastion.authorize(target.userKey) }
            root = try TempDirectory("bastion-root")
            work = try TempDirectory("bastion-work")
            try TunnelPayload.random(at: root.file("down.bin"), mebibytes: 8)
            try TunnelPayload.random(at: work.file("up.bin"), mebibytes: 4)
            vsftpd = try VsftpdFixture(root: root.path, pasvAddress: "127.0.0.1", writable: true)
            knownHosts = try work.write("known_hosts", ([target] + bastions).map(\.knownHostsLine).joined(separator: "\n") + "\n",
                                        mode: 0o600)
            try writeSSHConfig(targetBlock: targetBlock)
        }

        static func bastionOptions(on host: String) -> SSHDFixture.Options {
            var options = SSHDFixture.Options()
            options.listenAddress = host
            options.logLevel = "DEBUG1"
            return options
        }

        /// `targetBlock` goes first (first value wins), then the jump hosts, then `Host *` with the key and known_hosts.
        func writeSSHConfig(targetBlock: [String]) throws {
            var lines = targetBlock
            for (index, bastion) in bastions.enumerated() {
                lines += ["Host jump\(index + 1)", "  HostName \(bastion.host)", "  Port \(bastion.port)", "  User \(bastion.user)"]
            }
            lines += ["Host *", "  IdentityFile \(target.userKey)", "  UserKnownHostsFile \(knownHosts)"]
            sshConfig = try work.write("ssh_config", lines.joined(separator: "\n") + "\n")
        }

        func tunnel(_ arguments: [String], waitForReady: Bool = true) throws -> TunnelProcess {
            try TunnelProcess(sshd: target, knownHosts: knownHosts, ftpPort: vsftpd.port, passivePorts: vsftpd.passivePorts,
                              identity: target.userKey, extraArguments: arguments,
                              environment: ["FTPTUNNEL_SSH_CONFIG": sshConfig], waitForReady: waitForReady)
        }

        /// A download and an upload through the tunnel with curl, hashed at both ends.
        func expectTransfers(_ tunnel: TunnelProcess, tag: String) throws {
            let down = try FTPClients.curl(["\(tunnel.url)/down.bin", "-o", work.file("\(tag)-down.bin")])
            #expect(down.status == 0, "\(tag) download: \(down.output)\n\(tunnel.output)")
            #expect(try TestFiles.sha256(work.file("\(tag)-down.bin")) == TestFiles.sha256(root.file("down.bin")), "\(tag)")
            let up = try FTPClients.curl(["-T", work.file("up.bin"), "\(tunnel.url)/upload/\(tag)-up.bin"])
            #expect(up.status == 0, "\(tag) upload: \(up.output)\n\(tunnel.output)")
            #expect(try TestFiles.sha256(root.file("upload/\(tag)-up.bin")) == TestFiles.sha256(work.file("up.bin")), "\(tag)")
        }

        /// How many direct-tcpip channels `bastion` carried to `host:port` (sshd's DEBUG1 line).
        static func channels(_ bastion: SSHDFixture, to host: String, _ port: Int) -> Int {
            // sshd -e ends its lines with CRLF: one Character in Swift, so split on any newline.
            bastion.log.split(whereSeparator: \.isNewline).filter {
                $0.contains("server_request_direct_tcpip") && $0.contains("target \(host) port \(port)")
            }.count
        }

        /// Expects `bastion` to have logged exactly `count` channels to host:port.
        static func expectChannels(_ bastion: SSHDFixture, to host: String, _ port: Int, count: Int) {
            #expect(channels(bastion, to: host, port) == count, "\(bastion.log)")
        }

        func jumpSpec(_ index: Int) -> String { "\(bastions[index].user)@\(bastions[index].host):\(bastions[index].port)" }
    }

    @Test func proxyJumpFromTheSSHConfigCarriesTheSessionThroughTheBastion() throws {
        let world = try World(targetBlock: ["Host 127.0.0.3", "  ProxyJump jump1"])
        let tunnel = try world.tunnel([])
        try world.expectTransfers(tunnel, tag: "config")
        World.expectChannels(world.bastions[0], to: "127.0.0.3", world.target.port, count: 1)
        #expect(tunnel.output.contains("jump channel open"), "\(tunnel.output)")
    }

    @Test func twoHopsWithDashJPassEachBastionInTurn() throws {
        let world = try World(bastionCount: 2)
        let tunnel = try world.tunnel(["-J", "\(world.jumpSpec(0)),jump2"])
        try world.expectTransfers(tunnel, tag: "two-hops")
        World.expectChannels(world.bastions[0], to: World.secondBastionHost, world.bastions[1].port, count: 1)
        World.expectChannels(world.bastions[1], to: "127.0.0.3", world.target.port, count: 1)
        #expect(World.channels(world.bastions[0], to: "127.0.0.3", world.target.port) == 0)

        // 32 MiB each way through both pumps, hashed, within curl's 60 s: a pump that waits in poll() while libssh2
        // holds a window adjustment it already read from the socket stalls until its idle time-out, window after window.
        let big = world.work.file("big.bin")
        try TunnelPayload.random(at: big, mebibytes: 32)
        let started = Date()
        let up = try FTPClients.curl(["-T", big, "\(tunnel.url)/upload/big.bin"], seconds: 60)
        let upSeconds = Date().timeIntervalSince(started)
        #expect(up.status == 0, "\(up.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(world.root.file("upload/big.bin")) == TestFiles.sha256(big))
        let down = try FTPClients.curl(["\(tunnel.url)/upload/big.bin", "-o", world.work.file("big-down.bin")], seconds: 60)
        #expect(down.status == 0, "\(down.output)\n\(tunnel.output)")
        #expect(try TestFiles.sha256(world.work.file("big-down.bin")) == TestFiles.sha256(big))
        print("two hops: 32 MiB up in \(String(format: "%.2f", upSeconds)) s, down in \(String(format: "%.2f", Date().timeIntervalSince(started) - upSeconds)) s")
    }

    @Test func proxyCommandWithOpenSSHsOwnClientAsTheHop() throws {
        let world = try World()
        let bastion = world.bastions[0]
        let ssh = "ssh -F /dev/null -i \(world.target.userKey) -o UserKnownHostsFile=\(world.knownHosts) -o BatchMode=yes "
            + "-o StrictHostKeyChecking=yes -p \(bastion.port) -W %h:%p \(bastion.user)@\(bastion.host)"
        try world.writeSSHConfig(targetBlock: ["Host 127.0.0.3", "  ProxyCommand \(ssh)"])
        let tunnel = try world.tunnel([])
        try world.expectTransfers(tunnel, tag: "proxycommand")
        World.expectChannels(bastion, to: "127.0.0.3", world.target.port, count: 1)
        #expect(tunnel.output.contains("ProxyCommand started"), "\(tunnel.output)")
    }

    @Test func aProxyCommandThatFailsIsReportedWithItsStatusAndItsStderrPassesThrough() throws {
        let world = try World()
        try world.writeSSHConfig(targetBlock: ["Host 127.0.0.3", "  ProxyCommand sh -c \"echo proxy-for-%h-broke >&2; exit 7\""])
        let tunnel = try world.tunnel([], waitForReady: false)
        #expect(try tunnel.process.waitForExit(seconds: 60) == 6, "\(tunnel.output)")
        #expect(tunnel.output.contains("proxy-for-127.0.0.3-broke"), "the command's stderr is ours: \(tunnel.output)")
        #expect(tunnel.output.contains("ProxyCommand `sh -c 'echo proxy-for-127.0.0.3-broke >&2; exit 7'` failed: it exited with status 7"),
                "\(tunnel.output)")
    }

    @Test func acceptNewRecordsEveryHopsKey() throws {
        let world = try World(bastionCount: 2)
        try world.work.write("known_hosts", "", mode: 0o600)
        let tunnel = try world.tunnel(["-J", "jump1,jump2", "-o", "StrictHostKeyChecking=accept-new"])
        try world.expectTransfers(tunnel, tag: "accept-new")
        let recorded = try String(contentsOfFile: world.knownHosts, encoding: .utf8)
        for host in [world.target] + world.bastions {
            #expect(recorded.contains(host.knownHostsLine), "\(host.host) missing from:\n\(recorded)")
        }
        tunnel.stop()  // its forwarded passive ports are the next tunnel's
        let policyYes = try world.tunnel(["-J", "jump1,jump2", "-o", "StrictHostKeyChecking=yes"])
        try world.expectTransfers(policyYes, tag: "known-now")
    }

    @Test func aChangedHostKeyAtTheSecondHopStopsWithStatus3NamingTheHop() throws {
        let world = try World(bastionCount: 2)
        let impostor = try SSHDFixture(World.bastionOptions(on: "127.0.0.5"))  // only its key is used
        let second = world.bastions[1]
        try world.work.write("known_hosts", [world.target.knownHostsLine, world.bastions[0].knownHostsLine,
                                             "[\(second.host)]:\(second.port) \(impostor.hostPublicKey)"].joined(separator: "\n") + "\n",
                             mode: 0o600)
        let tunnel = try world.tunnel(["-J", "jump1,jump2"], waitForReady: false)
        #expect(try tunnel.process.waitForExit(seconds: 60) == 3, "\(tunnel.output)")
        #expect(tunnel.output.contains("bastion 2 of 2 \(world.jumpSpec(1))"), "\(tunnel.output)")
        #expect(tunnel.output.contains("REMOTE HOST IDENTIFICATION HAS CHANGED for [\(second.host)]:\(second.port)"), "\(tunnel.output)")
        #expect(World.channels(second, to: "127.0.0.3", world.target.port) == 0, "nothing may pass a bastion with a changed key")
    }

    @Test func aBastionWithoutForwardingIsAClearError() throws {
        var options = World.bastionOptions(on: LoopbackNet.clientSide)
        options.allowTcpForwarding = false
        let world = try World(firstBastion: options)
        let tunnel = try world.tunnel(["-J", "jump1"], waitForReady: false)
        #expect(try tunnel.process.waitForExit(seconds: 60) == 6, "\(tunnel.output)")
        let bastion = world.bastions[0]
        #expect(tunnel.output.contains("bastion \(bastion.host):\(bastion.port) refused the channel to 127.0.0.3:\(world.target.port) ("),
                "\(tunnel.output)")
        #expect(tunnel.output.contains("AllowTcpForwarding no on the bastion?"), "\(tunnel.output)")
    }

    @Test func theChainIsRebuiltWhenTheDestinationsSSHDRestartsBehindARunningBastion() throws {
        let world = try World()
        let tunnel = try world.tunnel(["-J", "jump1"])
        try world.expectTransfers(tunnel, tag: "before")
        world.target.kill()
        try Deadline.wait(for: "the tunnel to notice the lost session", seconds: 30) { tunnel.output.contains("SSH session lost") }
        #expect(tunnel.process.isRunning)
        try world.target.restart()
        try Deadline.wait(for: "the reconnect through the bastion", seconds: 60) { tunnel.output.contains("reconnected after") }
        try world.expectTransfers(tunnel, tag: "after")
        #expect(World.channels(world.bastions[0], to: "127.0.0.3", world.target.port) >= 2, "\(world.bastions[0].log)")
    }

    @Test func theChainIsRebuiltWhenTheBastionRestarts() throws {
        let world = try World()
        let tunnel = try world.tunnel(["-J", "jump1"])
        try world.expectTransfers(tunnel, tag: "before")
        let bastion = world.bastions[0]
        bastion.kill()
        try Deadline.wait(for: "the tunnel to notice the lost bastion", seconds: 30) { tunnel.output.contains("SSH session lost") }
        #expect(tunnel.process.isRunning)
        try bastion.restart()
        try Deadline.wait(for: "the reconnect through the restarted bastion", seconds: 60) { tunnel.output.contains("reconnected after") }
        try world.expectTransfers(tunnel, tag: "after")
        #expect(World.channels(bastion, to: "127.0.0.3", world.target.port) == 1, "the restarted bastion carries the new session: \(bastion.log)")
    }

    /// Uploads and downloads at once through two hops: each pump interleaves both directions of one channel (a
    /// channel write that returned EAGAIN must be repeated before the channel is read, DESIGN 3.3), and every file
    /// arrives byte-exact.
    @Test func concurrentUploadsAndDownloadsThroughTwoHopsStayByteExact() throws {
        let world = try World(bastionCount: 2)
        let tunnel = try world.tunnel(["-J", "jump1,jump2"])
        let big = world.work.file("mixed-up.bin")
        try TunnelPayload.random(at: big, mebibytes: 24)
        try TunnelPayload.random(at: world.root.file("mixed-down.bin"), mebibytes: 24)
        let curl = try which("curl")
        var clients: [ManagedProcess] = []
        for index in 0..<2 {
            clients.append(try ManagedProcess(curl, ["-sS", "--max-time", "120", "-T", big, "\(tunnel.url)/upload/mixed-\(index).bin"]))
            clients.append(try ManagedProcess(curl, ["-sS", "--max-time", "120", "\(tunnel.url)/mixed-down.bin",
                                                     "-o", world.work.file("mixed-down-\(index).bin")]))
        }
        for client in clients { #expect(try client.waitForExit(seconds: 150) == 0, "\(client.output)\n\(tunnel.output)") }
        for index in 0..<2 {
            #expect(try TestFiles.sha256(world.root.file("upload/mixed-\(index).bin")) == TestFiles.sha256(big))
            #expect(try TestFiles.sha256(world.work.file("mixed-down-\(index).bin")) == TestFiles.sha256(world.root.file("mixed-down.bin")))
        }
    }

    /// A bastion that comes back with another host key is refused on reconnect (exit 3, the hop named), as the
    /// destination would be: the key verified at start is the only one accepted.
    @Test func aBastionBackWithAnotherHostKeyIsRefusedOnReconnect() throws {
        let world = try World()
        let tunnel = try world.tunnel(["-J", "jump1"])
        try world.expectTransfers(tunnel, tag: "before")
        let bastion = world.bastions[0]
        bastion.kill()
        try Deadline.wait(for: "the tunnel to notice the lost bastion", seconds: 30) { tunnel.output.contains("SSH session lost") }
        try bastion.restart(withNewHostKey: true)
        #expect(try tunnel.process.waitForExit(seconds: 90) == 3, "\(tunnel.output)")
        #expect(tunnel.output.contains("bastion 1 of 1 \(world.jumpSpec(0)): a new connection to the SSH server (reconnecting) presented host key"),
                "\(tunnel.output)")
        World.expectChannels(bastion, to: "127.0.0.3", world.target.port, count: 0)
    }

    /// `Sessions 3` through a bastion: the three pool sessions ride three channels of ONE bastion session (one login
    /// and one session process in the bastion's sshd), and concurrent downloads spread over all three stay
    /// byte-exact. Killing that bastion session loses all three pool sessions; all three come back through one new
    /// bastion session and carry byte-exact transfers again.
    @Test func poolSessionsShareOneBastionSession() throws {
        let world = try World()
        let bastion = world.bastions[0]
        let tunnel = try world.tunnel(["-J", "jump1", "-o", "Sessions=3"])
        try Deadline.wait(for: "three channels through the bastion") { World.channels(bastion, to: "127.0.0.3", world.target.port) == 3 }
        try Deadline.wait(for: "the pool's three logins at the destination") { Self.logins(world.target) == 3 }
        #expect(Self.logins(bastion) == 1, "one bastion session carries the pool: \(bastion.log)")
        #expect(bastion.sessionProcesses.count == 1, "\(bastion.log)")
        try expectPoolDownloads(world, tunnel, tag: "before")

        bastion.killSession(try #require(bastion.sessionProcesses.first))
        for number in 1...3 {
            try Deadline.wait(for: "pool session \(number) back through a new bastion session", seconds: 60) {
                Self.lines(tunnel.output, session: number, containing: "reconnected after") == 1
            }
        }
        #expect(Self.logins(bastion) == 2, "one new bastion session for the three reconnects: \(bastion.log)")
        #expect(World.channels(bastion, to: "127.0.0.3", world.target.port) == 6, "\(bastion.log)")
        #expect(bastion.sessionProcesses.count == 1, "\(bastion.log)")
        try expectPoolDownloads(world, tunnel, tag: "after")
        #expect(tunnel.process.isRunning)
    }

    /// `Sessions 2` through two hops: one session at each bastion (the second reached once through the first), two
    /// channels from the second bastion to the destination, and transfers on both pool sessions byte-exact.
    @Test func poolSessionsShareOneSessionPerHopOfATwoHopChain() throws {
        let world = try World(bastionCount: 2)
        let tunnel = try world.tunnel(["-J", "jump1,jump2", "-o", "Sessions=2"])
        try Deadline.wait(for: "two channels from the second bastion") {
            World.channels(world.bastions[1], to: "127.0.0.3", world.target.port) == 2
        }
        try Deadline.wait(for: "the pool's two logins at the destination") { Self.logins(world.target) == 2 }
        #expect(Self.logins(world.bastions[0]) == 1, "\(world.bastions[0].log)")
        #expect(Self.logins(world.bastions[1]) == 1, "\(world.bastions[1].log)")
        World.expectChannels(world.bastions[0], to: World.secondBastionHost, world.bastions[1].port, count: 1)
        try world.expectTransfers(tunnel, tag: "two-hop-pool")
        let downloads = try (0..<4).map { index in
            try ManagedProcess(try which("curl"), ["-sS", "--max-time", "120", "\(tunnel.url)/down.bin",
                                                  "-o", world.work.file("two-hop-pool-\(index).bin")])
        }
        for download in downloads { #expect(try download.waitForExit(seconds: 150) == 0, "\(download.output)\n\(tunnel.output)") }
        for index in 0..<4 {
            #expect(try TestFiles.sha256(world.work.file("two-hop-pool-\(index).bin")) == TestFiles.sha256(world.root.file("down.bin")))
        }
        for number in 1...2 {
            #expect(Self.lines(tunnel.output, session: number, containing: "channel open") > 0, "\(tunnel.output)")
        }
    }

    /// sshd's "Accepted … for USER" lines: one per authenticated session.
    static func logins(_ sshd: SSHDFixture) -> Int {
        sshd.log.split(whereSeparator: \.isNewline).filter { $0.contains("Accepted ") && $0.contains(" for ") }.count
    }

    /// Lines of the tunnel's -v log for events on pool session `number` (metadata `(… session=N …)`).
    static func lines(_ output: String, session number: Int, containing text: String) -> Int {
        output.split(separator: "\n").filter {
            ($0.contains("session=\(number) ") || $0.contains("session=\(number))")) && $0.contains(text)
        }.count
    }

    /// Six concurrent downloads, hashed; every pool session opened channels for them.
    private func expectPoolDownloads(_ world: World, _ tunnel: TunnelProcess, tag: String) throws {
        let before = (1...3).map { Self.lines(tunnel.output, session: $0, containing: "channel open") }
        let downloads = try (0..<6).map { index in
            try ManagedProcess(try which("curl"), ["-sS", "--max-time", "120", "\(tunnel.url)/down.bin",
                                                  "-o", world.work.file("\(tag)-pool-\(index).bin")])
        }
        for download in downloads { #expect(try download.waitForExit(seconds: 150) == 0, "\(download.output)\n\(tunnel.output)") }
        for index in 0..<6 {
            #expect(try TestFiles.sha256(world.work.file("\(tag)-pool-\(index).bin")) == TestFiles.sha256(world.root.file("down.bin")), "\(tag) \(index)")
        }
        for number in 1...3 {
            #expect(Self.lines(tunnel.output, session: number, containing: "channel open") > before[number - 1],
                    "\(tag): pool session \(number) carried no transfer\n\(tunnel.output)")
        }
    }

    /// A bastion that hangs with its TCP connection up (its session process stopped): the destination's
    /// ServerAlive probes go unanswered through it, the session is declared dead, and the chain is rebuilt through
    /// the bastion's listener, which still accepts.
    @Test func serverAliveThroughTheChainNoticesAHungBastion() throws {
        let world = try World()
        let tunnel = try world.tunnel(["-J", "jump1", "-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=2"])
        try world.expectTransfers(tunnel, tag: "before")
        let freeze = try ProcessFreeze.sessions(of: world.bastions[0])
        defer { freeze.thaw() }
        try Deadline.wait(for: "ServerAlive to declare the session dead", seconds: 30) {
            tunnel.output.contains("SSH server stopped answering")
        }
        do {
            try Deadline.wait(for: "the reconnect through a new bastion session", seconds: 60) { tunnel.output.contains("reconnected after") }
        } catch {
            Issue.record("\(tunnel.output)")
            throw error
        }
        try world.expectTransfers(tunnel, tag: "after")
        World.expectChannels(world.bastions[0], to: "127.0.0.3", world.target.port, count: 2)
    }

    /// Mode sftp through a bastion: every SSH session of the bridge (here one per curl: each FTP session ends, and
    /// its SSH session with it, before the next comes) runs on a channel of its own through the bastion (whose session is shared while it lives; verified and logged in once, then reused
    /// without asking).
    @Test(arguments: [1, 2]) func theSFTPBridgeBuildsAChainPerFTPSession(hops: Int) throws {
        let world = try World(bastionCount: hops, targetConfig: ["Subsystem sftp internal-sftp"])
        let home = try TempDirectory("bastion-bridge-home")
        let localPort = try LoopbackNet.freePort(on: LoopbackNet.clientSide)
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = home.path
        environment["FTPTUNNEL_SSH_CONFIG"] = world.sshConfig
        for key in ["SSH_AUTH_SOCK", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE"] { environment.removeValue(forKey: key) }
        let bridge = try ManagedProcess(try Products.ftptunnel, [
            "connect", "\(world.target.user)@\(world.target.host):\(world.target.port)", "--mode", "sftp",
            "--sftp-root", world.root.path, "--local-port", "\(localPort)", "--known-hosts", world.knownHosts,
            "-i", world.target.userKey, "-J", hops == 1 ? "jump1" : "jump1,jump2", "-v",
        ], environment: environment)
        defer { bridge.stop() }
        try bridge.waitForOutput(containing: TunnelProcess.readyMarker, seconds: 30)
        for index in 0..<2 {
            let down = try FTPClients.curl(["ftp://\(LoopbackNet.clientSide):\(localPort)/down.bin", "-o", world.work.file("sftp-\(index).bin")])
            #expect(down.status == 0, "\(down.output)\n\(bridge.output)")
            #expect(try TestFiles.sha256(world.work.file("sftp-\(index).bin")) == TestFiles.sha256(world.root.file("down.bin")))
        }
        let last = world.bastions[hops - 1]
        #expect(World.channels(last, to: "127.0.0.3", world.target.port) >= 3, "the check session and one per FTP session: \(last.log)")
        // No FTP session left: no SSH session through the chain, so no bastion session either (each hop's session
        // ends with the last channel through it, the first hop's once the second hop's session is gone).
        for bastion in world.bastions {
            try Deadline.wait(for: "bastion \(bastion.host) to have no session left", seconds: 30) { bastion.sessionProcesses.isEmpty }
        }
        #expect(bridge.isRunning, "\(bridge.output)")
    }
}
