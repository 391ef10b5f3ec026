import Foundation
import Testing
import TestSupport

/// What a person sees and types, through the real binaries, a real sshd and pasvd: `run` leaves stdout to its
/// command, transfer lines at the default level, `status`/`stop` on the control socket (owner only), OpenSSH's
/// host-key question and Ctrl-C on a real pty.
@Suite(.serialized) struct TerminalUXTests {
    static let mebibytes = 4

    final class World: @unchecked Sendable {
        let sshd: SSHDFixture
        let root: TempDirectory
        let work: TempDirectory
        let home: TempDirectory
        let runtime: TempDirectory
        let knownHosts: String
        let pasvd: PasvdFixture

        init(mebibytes: Int = TerminalUXTests.mebibytes) throws {
            sshd = try SSHDFixture()
            root = try TempDirectory("ux-root")
            work = try TempDirectory("ux-work")
            home = try TempDirectory("ux-home")
            runtime = try TempDirectory("ux-rt")
            knownHosts = try sshd.writeKnownHosts(in: work)
            try TunnelPayload.random(at: root.file("down.bin"), mebibytes: mebibytes)
            try TunnelPayload.random(at: work.file("up.bin"), mebibytes: mebibytes)
            _ = try root.makeDirectory("upload")
            pasvd = try PasvdFixture(root: root.path, extraArguments: ["--anonymous", "--writable"])
        }

        var destination: String { "\(sshd.user)@\(sshd.host):\(sshd.port)" }

        func arguments(localPort: Int, knownHosts: String? = nil) -> [String] {
            ["--ftp-host", LoopbackNet.serverSide, "--ftp-port", "\(pasvd.port)", "--known-hosts", knownHosts ?? self.knownHosts,
             "-i", sshd.userKey, "--local-port", "\(localPort)"]
        }

        var environment: [String: String] {
            var env = ProcessInfo.processInfo.environment
            env["HOME"] = home.path
            env["FTPTUNNEL_SSH_CONFIG"] = "none"
            env["XDG_RUNTIME_DIR"] = runtime.path
            for key in ["SSH_AUTH_SOCK", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE", "DISPLAY"] { env.removeValue(forKey: key) }
            return env
        }

        func tunnel(verbose: Bool = false) throws -> RewriteTunnelProcess {
            try RewriteTunnelProcess(sshd: sshd, knownHosts: knownHosts, ftpPort: pasvd.port, verbose: verbose,
                                     environment: ["XDG_RUNTIME_DIR": runtime.path])
        }

        func ftptunnel(_ arguments: [String], seconds: Double = 60, environment: [String: String]? = nil) throws -> CommandResult {
            try runCommand(try Products.ftptunnel, arguments, seconds: seconds, environment: environment ?? self.environment)
        }

        var socketPath: String { runtime.file("ftptunnel/\(destination).sock") }
    }

    // MARK: run

    @Test func runLeavesStdoutToTheCommand() throws {
        let world = try World()
        let child = try ManagedProcess(try Products.ftptunnel, ["run", world.destination]
            + world.arguments(localPort: try LoopbackNet.freePort(on: LoopbackNet.clientSide))
            + ["--", "sh", "-c", #"curl -s "$FTPTUNNEL_URL/down.bin""#], environment: world.environment)
        #expect(try child.waitForExit(seconds: 120) == 0, "\(child.stderr)")
        #expect(try TestFiles.sha256(child.stdoutPath) == TestFiles.sha256(world.root.file("down.bin")), "\(child.stderr)")
        #expect(child.stderr.contains("ftptunnel: ready —"), "\(child.stderr)")
        #expect(child.stderr.contains("ftptunnel: RETR down.bin 4.0 MiB "), "\(child.stderr)")
    }

    // MARK: Transfer lines

    @Test func oneLinePerTransferAtTheDefaultLevel() throws {
        let world = try World()
        let tunnel = try world.tunnel()
        let down = try FTPClients.curl(["\(tunnel.url)/down.bin", "-o", world.work.file("down.bin")])
        #expect(down.status == 0, "\(down.output)")
        #expect(try TestFiles.sha256(world.work.file("down.bin")) == TestFiles.sha256(world.root.file("down.bin")))
        let up = try FTPClients.curl(["-T", world.work.file("up.bin"), "\(tunnel.url)/upload/up.bin"])
        #expect(up.status == 0, "\(up.output)")
        #expect(try TestFiles.sha256(world.root.file("upload/up.bin")) == TestFiles.sha256(world.work.file("up.bin")))
        let list = try FTPClients.curl(["\(tunnel.url)/"])
        #expect(list.status == 0 && list.stdout.contains("down.bin"), "\(list.output)")
        // curl gives up at SIZE's 550 without a RETR; ftplib asks for the file.
        let missing = try FTPClients.python(host: LoopbackNet.clientSide, port: tunnel.localPort, body: """
        try:
            ftp.retrbinary("RETR missing.bin", lambda block: None)
        except ftplib.error_perm as e:
            print("refused", e)
        """)
        #expect(missing.stdout.contains("refused 550"), "\(missing.output)")

        let allFour = (try? Deadline.wait(for: "four transfer lines", seconds: 20) {
            let out = tunnel.output
            return out.contains("ftptunnel: RETR down.bin 4.0 MiB ") && out.contains("ftptunnel: STOR up.bin 4.0 MiB ")
                && out.contains("ftptunnel: LIST ") && out.contains("ftptunnel: RETR missing.bin failed: 550")
        }) != nil
        #expect(allFour, "\(tunnel.output)")
        let lines = tunnel.output.split(separator: "\n")
        let retr = try #require(lines.first { $0.hasPrefix("ftptunnel: RETR down.bin") })
        #expect(retr.hasSuffix("MB/s") || retr.hasSuffix("kB/s"), "\(retr)")
        // Plain sentences: no timestamps, levels, metadata or doubled labels, no connection lines at this level.
        for line in lines { #expect(line.hasPrefix("ftptunnel: "), "\(line)") }
        #expect(!tunnel.output.contains("[ftptunnel]"))
        #expect(!tunnel.output.contains("connection accepted") && !tunnel.output.contains("channel open"), "\(tunnel.output)")
        #expect(!tunnel.output.contains("conn="), "\(tunnel.output)")
        let ready = try #require(lines.first { $0.hasPrefix("ftptunnel: ready —") })
        #expect(ready.count <= 100, "\(ready)")
        #expect(ready.contains("Only use plain FTP"))
    }

    // MARK: status, stop

    /// `status` bytes of the transfer of `down.bin` in `report`, from its "NUMBER UNIT" after the title.
    static func bytesShown(_ report: String) -> Double? {
        guard let line = report.split(separator: "\n").first(where: { $0.contains("RETR down.bin  ") }),
              let range = line.range(of: "RETR down.bin  ") else { return nil }
        let words = line[range.upperBound...].split(separator: " ")
        guard words.count >= 2, let value = Double(words[0]) else { return nil }
        let scale: [String: Double] = ["B": 1, "KiB": 1024, "MiB": 1_048_576, "GiB": 1_073_741_824]
        return scale[String(words[1])].map { $0 * value }
    }

    @Test func statusShowsAGrowingTransferAndStopEndsTheTunnel() throws {
        let world = try World(mebibytes: 32)
        let tunnel = try world.tunnel()
        // 32 MiB at 1 MB/s: more than loopback socket buffers hold, so the count keeps growing for half a minute.
        let slow = try ManagedProcess(try which("curl"), ["-s", "--limit-rate", "1m", "\(tunnel.url)/down.bin",
                                                          "-o", world.work.file("slow.bin")])
        defer { slow.stop() }
        var last = ""
        let found = try? Deadline.value(of: "the download in status", seconds: 30) { () -> (String, Double)? in
            let result = try world.ftptunnel(["status", world.destination])
            last = result.output
            guard result.status == 0, let bytes = Self.bytesShown(result.stdout), bytes > 0 else { return nil }
            return (result.stdout, bytes)
        }
        let first = try #require(found, "\(last)\n\(tunnel.output)")
        let report = first.0
        #expect(report.contains("ready — \(tunnel.url), mode rewrite"), "\(report)")
        #expect(report.contains("SSH session 1: \(world.destination) ready"), "\(report)")
        #expect(report.contains("client connections: 1 control, 1 data"), "\(report)")
        #expect(report.contains(" of 32.0 MiB (") && report.contains("%)") && report.contains("ETA "), "\(report)")
        let grew = (try? Deadline.wait(for: "the byte count to grow", seconds: 20) {
            let result = try world.ftptunnel(["status", world.destination])
            last = result.output
            return (Self.bytesShown(result.stdout) ?? 0) > first.1
        }) != nil
        #expect(grew, "first:\n\(report)\nlast:\n\(last)")
        // Without DEST: every running tunnel.
        #expect(try world.ftptunnel(["status"]).stdout.contains("RETR down.bin"))

        // Another user is refused: `status` will not use a directory that is not theirs, the directory's mode keeps
        // them out, and when the modes are opened up the tunnel refuses them itself (SO_PEERCRED).
        let denied = try runCommand("runuser", ["-u", "nobody", "--", try Products.ftptunnel, "status", world.destination],
                                    environment: world.environment)
        #expect(denied.status != 0 && !denied.stdout.contains("RETR"), "\(denied.output)")
        #expect(denied.stderr.contains("cannot be checked (Permission denied)"), "\(denied.output)")
        let rawClient = """
        import socket, sys
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(sys.argv[1])
        except OSError as e:
            print("connect:", e.strerror); sys.exit(0)
        s.sendall(b"status\\n")
        print(s.recv(65536).decode())
        """
        let raw = { () throws -> CommandResult in
            try runCommand("runuser", ["-u", "nobody", "--", "python3", "-c", rawClient, world.socketPath])
        }
        let blocked = try raw()
        #expect(blocked.stdout.contains("connect: Permission denied"), "\(blocked.output)")
        chmod(world.runtime.path, 0o711)
        chmod(world.runtime.file("ftptunnel"), 0o711)
        chmod(world.socketPath, 0o666)
        let refused = try raw()
        chmod(world.socketPath, 0o600)
        chmod(world.runtime.file("ftptunnel"), 0o700)
        chmod(world.runtime.path, 0o700)
        #expect(refused.stdout.contains("error: refused: only the user who started this tunnel"), "\(refused.output)")
        #expect(!refused.stdout.contains("RETR"), "\(refused.output)")
        #expect(tunnel.output.contains("control socket: refused a connection from uid"), "\(tunnel.output)")

        // A second tunnel of the same name says so and leaves the first alone.
        let second = try world.ftptunnel(["connect", world.destination]
            + world.arguments(localPort: try LoopbackNet.freePort(on: LoopbackNet.clientSide)))
        #expect(second.status == 2, "\(second.output)")
        #expect(second.stderr.contains("ftptunnel: error: a tunnel named \(world.destination) is already running"), "\(second.output)")
        #expect(try world.ftptunnel(["status", world.destination]).status == 0)

        let stop = try world.ftptunnel(["stop", world.destination])
        #expect(stop.status == 0, "\(stop.output)")
        #expect(stop.stderr.contains("stopped"), "\(stop.output)")
        #expect(try tunnel.process.waitForExit(seconds: 20) == 0, "\(tunnel.output)")
        #expect(tunnel.output.contains("stop requested"), "\(tunnel.output)")
        #expect(!FileManager.default.fileExists(atPath: world.socketPath))

        let none = try world.ftptunnel(["status", world.destination])
        #expect(none.status == 1, "\(none.output)")
        #expect(none.stderr.contains("ftptunnel: error: no tunnel named \(world.destination) is running"), "\(none.output)")
        #expect(try world.ftptunnel(["stop", world.destination]).status == 1)
    }

    @Test func aStaleSocketFromAKilledTunnelIsReplaced() throws {
        let world = try World(mebibytes: 1)
        let killed = try world.tunnel()
        killed.process.signal(SIGKILL)
        _ = try killed.process.waitForExit(seconds: 20)
        #expect(FileManager.default.fileExists(atPath: world.socketPath))
        let stale = try world.ftptunnel(["status", world.destination])
        #expect(stale.status == 1 && stale.stderr.contains("is running"), "\(stale.output)")
        let next = try world.tunnel(verbose: true)
        #expect(next.output.contains("replacing the stale control socket"), "\(next.output)")
        #expect(try world.ftptunnel(["status", world.destination]).stdout.contains("transfers in progress: none"))
    }

    @Test func anUnsafeSocketDirectoryCostsStatusNotTheTunnel() throws {
        let world = try World(mebibytes: 1)
        let loose = world.runtime.file("ftptunnel")
        mkdir(loose, 0o755)
        chmod(loose, 0o755)
        let tunnel = try world.tunnel()
        #expect(tunnel.output.contains("ftptunnel: warning: the control socket directory \(loose) is open to other users (mode 755); chmod 700 it"),
                "\(tunnel.output)")
        let result = try world.ftptunnel(["status", world.destination])
        #expect(result.status == 1 && result.stderr.contains("is open to other users"), "\(result.output)")
        let down = try FTPClients.curl(["\(tunnel.url)/down.bin", "-o", world.work.file("down.bin")])
        #expect(down.status == 0, "\(down.output)")
    }

    @Test func watchRefreshesUntilCtrlC() throws {
        let world = try World(mebibytes: 1)
        let tunnel = try world.tunnel()
        defer { tunnel.stop() }
        let watched = try PtySession.run(try Products.ftptunnel, ["status", "--watch", "-n", "0.5", world.destination],
                                         environment: world.environment, steps: [
            .init(expect: "transfers in progress: none", send: ""),
            .init(expect: "transfers in progress: none", send: "\u{3}"),
        ])
        #expect(watched.failure == nil, "\(watched.transcript)")
        #expect(watched.status == 0, "\(watched.transcript)")
        #expect(watched.transcript.components(separatedBy: "every 0.5 s: ftptunnel status").count >= 3, "\(watched.transcript)")
    }

    // MARK: One error prefix

    @Test func everySubcommandUsesTheSameErrorPrefix() throws {
        let world = try World(mebibytes: 1)
        for arguments in [["show", "-o", "NoSuchKeyword=1", "x"], ["connect", "-o", "NoSuchKeyword=1", "x"],
                          ["check", "-o", "NoSuchKeyword=1", "x"], ["status", "--interval", "100"], ["connect"]] {
            let result = try world.ftptunnel(arguments)
            #expect(result.status != 0, "\(arguments): \(result.output)")
            #expect(result.stderr.hasPrefix("ftptunnel: error: "), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("Error:"), "\(arguments): \(result.stderr)")
        }
    }

    // MARK: On a terminal

    @Test func hostKeyQuestionAsOpenSSHAsksItThenCtrlCAfterReady() throws {
        let world = try World(mebibytes: 1)
        let empty = try world.work.write("empty_known_hosts", "", mode: 0o600)
        let fingerprint = try SSHDFixture.fingerprint(of: world.sshd.hostKey)
        let result = try PtySession.run(try Products.ftptunnel, ["connect", world.destination]
            + world.arguments(localPort: try LoopbackNet.freePort(on: LoopbackNet.clientSide), knownHosts: empty),
            environment: world.environment, steps: [
                .init(expect: "Are you sure you want to continue connecting (yes/no/[fingerprint])? ", send: "maybe\r"),
                .init(expect: "Please type 'yes', 'no' or the fingerprint: ", send: fingerprint + "\r"),
                .init(expect: "ftptunnel: ready —", send: "\u{3}"),
            ])
        #expect(result.failure == nil, "\(result.transcript)")
        #expect(result.status == 0, "\(result.transcript)")
        #expect(result.transcript.contains("^C\r\nftptunnel: interrupted: closing the tunnel\r\n"), "\(result.transcript.debugDescription)")
        #expect(try String(contentsOfFile: empty, encoding: .utf8).contains(SSHDFixture.publicKey(of: world.sshd.hostKey)))
    }

    @Test func anotherPastedFingerprintIsARefusalAndCtrlCBeforeReady() throws {
        let world = try World(mebibytes: 1)
        let empty = try world.work.write("empty_known_hosts", "", mode: 0o600)
        let arguments = ["connect", world.destination]
            + world.arguments(localPort: try LoopbackNet.freePort(on: LoopbackNet.clientSide), knownHosts: empty)
        let refused = try PtySession.run(try Products.ftptunnel, arguments, environment: world.environment, steps: [
            .init(expect: "(yes/no/[fingerprint])? ", send: "SHA256:AAAAQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\r"),
        ])
        #expect(refused.status == 3, "\(refused.transcript)")
        #expect(refused.transcript.contains("ftptunnel: error: the fingerprint you pasted"), "\(refused.transcript)")
        #expect(try String(contentsOfFile: empty, encoding: .utf8).isEmpty)

        let interrupted = try PtySession.run(try Products.ftptunnel, arguments, environment: world.environment, steps: [
            .init(expect: "(yes/no/[fingerprint])? ", send: "\u{3}"),
        ])
        #expect(interrupted.status == 128 + SIGINT, "\(interrupted.transcript)")
        #expect(interrupted.transcript.contains("^C\r\nftptunnel: interrupted before the tunnel was ready\r\n"),
                "\(interrupted.transcript.debugDescription)")
    }

    // MARK: check

    @Test func checkNamesALocalPassivePortClash() throws {
        let recipe = try TunnelRecipe(server: .pasvd)
        let fixed = try recipe.tunnel()
        let home = try TempDirectory("ux-check-home")
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home.path
        env["FTPTUNNEL_SSH_CONFIG"] = "none"
        env.removeValue(forKey: "SSH_AUTH_SOCK")
        let range = "\(recipe.passivePorts.lowerBound)-\(recipe.passivePorts.upperBound)"
        let check = try runCommand(try Products.ftptunnel, [
            "check", "\(recipe.sshd.user)@\(recipe.sshd.host):\(recipe.sshd.port)", "--ftp-host", LoopbackNet.serverSide,
            "--ftp-port", "\(recipe.ftpPort)", "--known-hosts", recipe.knownHosts, "-i", recipe.sshd.userKey,
            "--passive-ports", range,
        ], seconds: 120, environment: env)
        #expect(check.stdout.contains("could not bind a local data port in --passive-ports/PassivePorts \(range) on this machine"),
                "\(check.output)\n\(fixed.output)")
        #expect(!check.stdout.contains("Check that FTPHost"), "\(check.output)")
        #expect(check.stdout.contains("Resume: supported (REST)"), "\(check.output)")
        #expect(check.stdout.contains("Server: pasvd at 127.0.0.2"), "\(check.output)")
    }

    /// `status` with an XDG_RUNTIME_DIR that belongs to another user says so (and what to do), instead of "no
    /// tunnel is running"; exit 1. An XDG_RUNTIME_DIR of ours without a tunnel is still "no tunnel".
    @Test func statusNamesAForeignRuntimeDirectory() throws {
        let foreign = try TempDirectory("foreign-runtime")
        let other: uid_t = getuid() == 0 ? 65534 : 0
        #expect(chown(foreign.path, other, gid_t(other)) == 0, "chown needs root (tests run as root)")
        var env = ProcessInfo.processInfo.environment
        env["XDG_RUNTIME_DIR"] = foreign.path
        let result = try runCommand(try Products.ftptunnel, ["status"], seconds: 30, environment: env)
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("\(foreign.path) belongs to uid \(other), not to you"), "\(result.stderr)")
        #expect(!result.stderr.contains("no tunnel is running"), "\(result.stderr)")

        let own = try TempDirectory("own-runtime")
        env["XDG_RUNTIME_DIR"] = own.path
        let none = try runCommand(try Products.ftptunnel, ["status"], seconds: 30, environment: env)
        #expect(none.status == 1)
        #expect(none.stderr.contains("no tunnel is running"), "\(none.stderr)")
    }
}
