import Foundation
import Testing
import TestSupport

/// Hostile clients against the real pasvd: traversal, symlink escapes, NUL bytes, long lines, PORT bounces,
/// HTTP on the control port, password guessing, aborted uploads.
@Suite struct HostileInputTests {
    /// A writable anonymous server whose root holds `etc -> /etc` and `sibling -> ../outside`.
    private func scenario() throws -> PasvdScenario {
        let s = try PasvdScenario()
        try s.directory.write("outside/secret.txt", "secret")
        try s.directory.write("root/file.txt", "inside")
        _ = try s.directory.makeDirectory("root/sub")
        symlink("/etc", s.path("etc"))
        symlink("../outside", s.path("sibling"))
        return s
    }

    @Test func traversalOnEveryPathCommand() throws {
        let s = try scenario()
        let control = try s.control(login: .anonymous)
        let escapes = ["../../../../etc/passwd", "/../../etc/passwd", "etc/passwd", "/etc/passwd", "sibling/secret.txt",
                       "../outside/secret.txt", "sub/../../outside/secret.txt", "../../../../tmp", "sibling"]
        let readCommands = ["RETR", "SIZE", "MDTM", "MLST", "CWD", "LIST", "NLST", "MLSD", "STAT"]
        let dataCommands: Set<String> = ["RETR", "LIST", "NLST", "MLSD"]
        for escape in escapes {
            for verb in readCommands {
                if dataCommands.contains(verb) { _ = control.command("EPSV") }
                let reply = control.command("\(verb) \(escape)") ?? "(closed)"
                #expect(reply.hasPrefix("550"), "\(verb) \(escape) → \(reply)")
                #expect(!reply.contains("root:"), "\(verb) \(escape) leaked /etc/passwd")
            }
        }
        #expect(control.command("PWD")?.hasPrefix("257 \"/\"") == true)
        let writeTargets = ["etc/evil", "/etc/evil", "../outside/evil", "sibling/evil", "sibling/secret.txt", "../../outside/x"]
        for target in writeTargets {
            for verb in ["STOR", "APPE", "STOU", "MKD", "DELE", "RMD"] {
                if ["STOR", "APPE", "STOU"].contains(verb) { _ = control.command("EPSV") }
                let reply = control.command("\(verb) \(target)") ?? "(closed)"
                #expect(reply.hasPrefix("550"), "\(verb) \(target) → \(reply)")
            }
            #expect(control.command("RNFR file.txt")?.hasPrefix("350") == true)
            #expect(control.command("RNTO \(target)")?.hasPrefix("550") == true, "RNTO \(target)")
            #expect(control.command("RNFR \(target)")?.hasPrefix("550") == true, "RNFR \(target)")
        }
        // `..` clamps at the root: this names root/outside, which does not exist, never the real sibling.
        #expect(control.command("CWD ../outside")?.hasPrefix("550") == true)
        #expect(control.command("MKD ../../../made")?.hasPrefix("257 \"/made\"") == true)
        #expect(fileExists(s.path("made")) && !fileExists(s.directory.file("made")))
        #expect(control.command("RMD ../made")?.hasPrefix("250") == true)
        #expect(try String(contentsOfFile: s.directory.file("outside/secret.txt"), encoding: .utf8) == "secret")
        #expect(try FileManager.default.contentsOfDirectory(atPath: s.directory.file("outside")) == ["secret.txt"])
        #expect(fileExists(s.path("file.txt")))
        #expect(!fileExists("/etc/evil"))
        // Escaping symlinks are not even listed.
        _ = control.command("EPSV")
        #expect(control.command("RETR sub")?.hasPrefix("550") == true, "RETR of a directory")
        #expect(control.command("QUIT")?.hasPrefix("221") == true)
        let listing = try FTPClients.curl(["-l", s.url(.anonymous)])
        let names = listing.stdout.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(names.sorted() == ["file.txt", "sub"])
    }

    @Test func retrServesRegularFilesOnly() throws {
        let s = try scenario()
        mkfifo(s.path("pipe"), 0o644)
        let control = try s.control(login: .anonymous)
        _ = control.command("EPSV")
        #expect(control.command("RETR pipe")?.hasPrefix("550") == true)
        _ = control.command("EPSV")
        #expect(control.command("RETR sub")?.hasPrefix("550") == true)
        #expect(control.command("NOOP")?.hasPrefix("200") == true)
    }

    @Test func nulBytesAreRefusedAndTheSessionContinues() throws {
        let s = try scenario()
        let control = try s.control(login: .anonymous)
        for line in ["RETR file.txt\0../../etc/passwd", "CWD \0", "MKD a\0b", "SIZE \0/etc/passwd"] {
            control.sendBytes(Array(line.utf8) + [13, 10])
            let reply = control.readReply() ?? "(closed)"
            #expect(reply.hasPrefix("501"), "\(line.debugDescription) → \(reply)")
        }
        #expect(control.command("NOOP")?.hasPrefix("200") == true)
        #expect(!fileExists(s.path("a")))
    }

    @Test func overlongLineGets500AndTheSessionContinues() throws {
        let s = try scenario()
        let control = try s.control()
        #expect(control.command("USER " + String(repeating: "A", count: 5000))?.hasPrefix("500") == true)
        #expect(control.command("NOOP")?.hasPrefix("200") == true)
        #expect(control.command("USER anonymous")?.hasPrefix("331") == true)
        #expect(control.command("PASS x")?.hasPrefix("230") == true)
    }

    @Test func activeModeIsRefusedAndNothingConnects() throws {
        let s = try scenario()
        let trapPort = try LoopbackNet.freePort(on: LoopbackNet.clientSide)
        let trap = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(trap) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(trapPort).bigEndian)
        inet_pton(AF_INET, LoopbackNet.clientSide, &address.sin_addr)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(trap, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0 && listen(trap, 4) == 0)
        let control = try s.control(login: .anonymous)
        #expect(control.command("PORT 127,0,0,1,0,25")?.hasPrefix("502") == true)
        #expect(control.command("PORT 127,0,0,1,\(trapPort >> 8),\(trapPort & 0xff)")?.hasPrefix("502") == true)
        #expect(control.command("RETR file.txt")?.hasPrefix("425") == true)
        #expect(control.command("EPRT |1|127.0.0.1|\(trapPort)|")?.hasPrefix("502") == true)
        #expect(control.command("LIST")?.hasPrefix("425") == true)
        var poll = [pollfd(fd: trap, events: Int16(POLLIN), revents: 0)]
        #expect(Glibc.poll(&poll, 1, 0) == 0, "pasvd connected out")
    }

    @Test func httpRequestLineClosesTheConnection() throws {
        let s = try scenario()
        let before = try s.control()
        before.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(before.isClosedByServer())
        let after = try s.control(login: .anonymous)
        after.send("POST /upload HTTP/1.0\r\n")
        #expect(after.isClosedByServer())
    }

    @Test func threeFailedLoginsDisconnectWith421() throws {
        let s = try scenario()
        let control = try s.control()
        var replies: [String] = []
        for (user, password) in [("olivia", "wrong"), ("nobody", "wrong"), ("yannick", "guess"), ("olivia", "again")] {
            guard control.command("USER \(user)") != nil, let reply = control.command("PASS \(password)") else { break }
            replies.append(reply)
        }
        #expect(replies.count == 3)
        #expect(replies.prefix(2).allSatisfy { $0 == "530 Login incorrect." }, "unknown and known users answer alike: \(replies)")
        #expect(replies.last?.hasPrefix("421") == true)
        #expect(control.isClosedByServer())
    }

    @Test func commandsBeforeLoginAndUnknownCommands() throws {
        let s = try scenario()
        let control = try s.control()
        for command in ["LIST", "RETR file.txt", "CWD /", "PWD", "STOR x", "PASV", "SIZE file.txt"] {
            #expect(control.command(command)?.hasPrefix("530") == true, "\(command)")
        }
        #expect(control.command("XYZZ")?.hasPrefix("500") == true)
        #expect(control.command("AUTH TLS")?.hasPrefix("502") == true)
        #expect(control.command("SYST")?.hasPrefix("215") == true)
        let feat = control.command("FEAT") ?? ""
        let lines = feat.split(separator: "\n").map(String.init)
        #expect(lines.first == "211-Features:" && lines.last == "211 End")
        #expect(lines.dropFirst().dropLast().allSatisfy { $0.hasPrefix(" ") })
        #expect(control.command("HELP")?.hasPrefix("214-") == true)
        #expect(control.command("OPTS UTF8 ON")?.hasPrefix("200") == true)
    }

    @Test func anonymousIsReadOnlyWithoutWritable() throws {
        let s = try PasvdScenario(anonymousWritable: false)
        try s.directory.write("root/file.txt", "inside")
        let control = try s.control(login: .anonymous)
        for command in ["STOR new.txt", "APPE file.txt", "DELE file.txt", "MKD d", "RNFR file.txt", "RMD x", "STOU"] {
            _ = control.command("EPSV")
            #expect(control.command(command)?.hasPrefix("550") == true, "\(command)")
        }
        #expect(!fileExists(s.path("new.txt")) && fileExists(s.path("file.txt")))
        // A users-file account on the same server may write.
        let user = try s.control(login: .opensslUser)
        _ = user.command("EPSV")
        #expect(user.command("MKD made")?.hasPrefix("257") == true)
    }
}
