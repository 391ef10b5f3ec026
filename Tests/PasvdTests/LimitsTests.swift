import Foundation
import Testing
import TestSupport

/// Passive port range, listener addresses, session limits, time-outs, shutdown and the CLI's refusals.
@Suite struct LimitsTests {
    @Test func passiveRangeExhaustionGives425AndNeverLeavesTheRange() throws {
        let s = try PasvdScenario(passivePortCount: 2)
        let range = s.server.passivePorts
        let first = try s.control(login: .anonymous), second = try s.control(login: .anonymous)
        var ports: [Int] = []
        for control in [first, second] {
            let reply = control.command("PASV") ?? ""
            #expect(reply.hasPrefix("227 Entering Passive Mode (127,0,0,2,"), "\(reply)")
            let numbers = reply.split(whereSeparator: { "(),".contains($0) }).compactMap { Int($0) }
            ports.append(numbers[numbers.count - 2] * 256 + numbers[numbers.count - 1])
        }
        #expect(Set(ports) == Set(range))
        let third = try s.control(login: .anonymous)
        #expect(third.command("EPSV")?.hasPrefix("425") == true)
        #expect(third.command("PASV")?.hasPrefix("425") == true)
        // A listener is freed when its session moves on: the range serves again.
        #expect(first.command("QUIT")?.hasPrefix("221") == true)
        let reply = try Deadline.value(of: "a free passive port") { () -> String? in
            let r = third.command("EPSV") ?? ""
            return r.hasPrefix("229") ? r : nil
        }
        #expect(range.contains(Int(reply.split(separator: "|")[1]) ?? 0))
    }

    @Test func everyListenerIsOnLoopbackOnly() throws {
        let s = try PasvdScenario()
        let controls = try (0..<3).map { _ in try s.control(login: .anonymous) }
        for control in controls { #expect(control.command("EPSV")?.hasPrefix("229") == true) }
        // The sessions (and so their passive listeners) must outlive the look at the sockets: optimised builds
        // release `controls` after its last use.
        let sockets = withExtendedLifetime(controls) { ProcessSockets.listeningInTree(s.server.process.pid) }
        #expect(sockets.count == 4, "\(sockets)")
        for socket in sockets {
            #expect(socket.hasPrefix("127.0.0.2:"), "\(socket)")
            let port = Int(socket.split(separator: ":").last ?? "") ?? 0
            #expect(port == s.port || s.server.passivePorts.contains(port), "\(socket)")
        }
    }

    /// Logged-in sessions only count (connections waiting to log in have their own bound, see
    /// PreloginLimitsTests): the third login is refused, and a new connection too while two sessions are held.
    @Test func maxSessionsRefusesTheExtraOneWith421() throws {
        let s = try PasvdScenario(extraArguments: ["--max-sessions", "2"])
        let first = try s.control(login: .anonymous)
        let second = try s.control(login: .anonymous)
        let third = try RawFTPControl(host: s.host, port: s.port)
        let refusal = third.readReply() ?? ""
        #expect(refusal.hasPrefix("421") && refusal.contains("Too many sessions (limit 2)"), "\(refusal)")
        #expect(third.isClosedByServer())
        #expect(second.command("QUIT")?.hasPrefix("221") == true)
        _ = try Deadline.value(of: "a slot after QUIT") { () -> RawFTPControl? in
            try? s.control(login: .anonymous)
        }
        #expect(first.command("NOOP")?.hasPrefix("200") == true)
    }

    @Test func idleSessionIsClosed() throws {
        let s = try PasvdScenario(extraArguments: ["--idle-timeout", "1"])
        let control = try s.control(login: .anonymous)
        #expect(control.readReply()?.hasPrefix("421") == true)
        #expect(control.isClosedByServer())
    }

    @Test func unusedPassiveListenerIsClosedAfterTheDataTimeout() throws {
        let s = try PasvdScenario(passivePortCount: 1, extraArguments: ["--data-timeout", "1"])
        let control = try s.control(login: .anonymous)
        let reply = control.command("EPSV") ?? ""
        let port = Int(reply.split(separator: "|").first { Int($0) != nil } ?? "") ?? 0
        #expect(ProcessSockets.listeningInTree(s.server.process.pid).contains("\(s.host):\(port)"))
        try Deadline.wait(for: "passive listener closed") {
            !ProcessSockets.listeningInTree(s.server.process.pid).contains("\(s.host):\(port)")
        }
        #expect(control.command("RETR nothing")?.hasPrefix("550") == true)
        #expect(control.command("NOOP")?.hasPrefix("200") == true)
    }

    @Test func nonLoopbackListenIsRefusedWithoutAllowRemote() throws {
        let root = try TempDirectory("refuse")
        let result = try runCommand(try Products.pasvd, ["--root", root.path, "--anonymous", "--listen", "0.0.0.0", "--port", "2121"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--allow-remote"), "\(result.stderr)")
        let noLogin = try runCommand(try Products.pasvd, ["--root", root.path, "--port", "2121"])
        #expect(noLogin.status != 0 && noLogin.stderr.contains("--anonymous"))
        let badRange = try runCommand(try Products.pasvd, ["--root", root.path, "--anonymous", "--pasv-ports", "9-x"])
        #expect(badRange.status != 0 && badRange.stderr.contains("--pasv-ports"))
        let badUsers = try root.write("users", "alice:notahash:/srv\n")
        let users = try runCommand(try Products.pasvd, ["--root", root.path, "--users", badUsers])
        #expect(users.status != 0 && users.stderr.contains("users:1"), "\(users.stderr)")
    }

    @Test func aborStopsADownloadAndTheSessionContinues() throws {
        let s = try PasvdScenario()
        try TestFiles.random(at: s.path("big.bin"), size: 64 << 20)
        let control = try s.control(login: .anonymous)
        let data = try s.openData(control)
        defer { close(data) }
        #expect(control.command("RETR big.bin")?.hasPrefix("150") == true)
        var buffer = [UInt8](repeating: 0, count: 65_536)
        #expect(read(data, &buffer, buffer.count) > 0)
        let first = control.command("ABOR") ?? "", second = control.readReply() ?? ""
        #expect(first.hasPrefix("426") && second.hasPrefix("226"), "\(first) / \(second)")
        #expect(control.command("SIZE big.bin") == "213 \(64 << 20)")
    }

    @Test func sigtermLetsTheTransferFinishAndExitsZero() throws {
        let s = try PasvdScenario()
        let work = try TempDirectory("sigterm")
        try TestFiles.random(at: s.path("big.bin"), size: 16 << 20)
        let curl = try ManagedProcess(try which("curl"), ["-sS", "--limit-rate", "8M", "-o", work.file("big.bin"),
                                                          s.url(.anonymous, "big.bin")])
        try Deadline.wait(for: "download in progress") { TestFiles.size(work.file("big.bin")) > 0 }
        let idle = try s.control(login: .anonymous)
        s.server.process.signal(SIGTERM)
        #expect(idle.readReply()?.hasPrefix("421") == true)
        try Deadline.wait(for: "control listener closed") { !LoopbackNet.isListening(s.host, s.port) }
        #expect(try curl.waitForExit(seconds: 30) == 0, "\(curl.output)")
        try expectSameBytes(s.path("big.bin"), work.file("big.bin"))
        #expect(try s.server.process.waitForExit(seconds: 30) == 0)
    }
}
