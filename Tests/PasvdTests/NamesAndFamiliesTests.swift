import Foundation
import Testing
import TestSupport

/// File names as they are on disk (STOU, bytes that are not UTF-8, CR/LF) and IPv6 control connections.
@Suite struct NamesAndFamiliesTests {
    @Test func stouAnnouncesTheNameItStoresAndStepsOverDirectories() throws {
        let s = try PasvdScenario()
        try s.directory.write("root/hello.txt", "old")
        _ = try s.directory.makeDirectory("root/dir")
        let control = try s.control(login: .anonymous)
        var replies: [String] = []
        for name in ["hello.txt", "dir"] {
            let data = try s.openData(control)
            replies.append(control.command("STOU \(name)") ?? "")
            _ = name.withCString { write(data, $0, strlen($0)) }
            close(data)
            replies.append(control.readReply() ?? "")
        }
        let result = (stdout: replies.joined(separator: "\n"), 0)
        #expect(result.stdout.contains("150 FILE: hello.txt.1"), "\(result.stdout)")
        #expect(result.stdout.contains("150 FILE: dir.1"), "\(result.stdout)")
        #expect(try String(contentsOfFile: s.path("hello.txt.1"), encoding: .utf8) == "hello.txt")
        #expect(try String(contentsOfFile: s.path("dir.1"), encoding: .utf8) == "dir")
        #expect(try String(contentsOfFile: s.path("hello.txt"), encoding: .utf8) == "old")
    }

    @Test func namesThatAreNotUTF8AreListedAndServedAsTheyAre() throws {
        let s = try PasvdScenario()
        let name: [UInt8] = Array("caf".utf8) + [0xE9] + Array(".bin".utf8)  // Latin-1 "café.bin"
        let path = s.root + "/" + String(decoding: name, as: UTF8.self)
        let created = (Array(s.root.utf8) + [UInt8(ascii: "/")] + name + [0]).withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                open($0, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            }
        }
        try #require(created >= 0)
        _ = "latin-1 content".withCString { write(created, $0, 15) }
        close(created)
        _ = path
        let script = """
        import ftplib, sys
        ftp = ftplib.FTP(encoding='latin-1')
        ftp.connect(sys.argv[1], int(sys.argv[2]), timeout=30)
        ftp.login('anonymous', 'x@')
        names = ftp.nlst()
        print('names', [n.encode('latin-1').hex() for n in names])
        chunks = []
        ftp.retrbinary('RETR caf\\xe9.bin', chunks.append)
        print('content', b''.join(chunks).decode())
        ftp.rename('caf\\xe9.bin', 'caf\\xe9-2.bin')
        print('renamed', [n.encode('latin-1').hex() for n in ftp.nlst()])
        ftp.quit()
        """
        let result = try runCommand("python3", ["-c", script, s.host, "\(s.port)"], seconds: 60)
        expectSuccess(result, "latin-1 client")
        let hex = name.map { String(format: "%02x", $0) }.joined()
        #expect(result.stdout.contains("names ['\(hex)']"), "\(result.stdout)")
        #expect(result.stdout.contains("content latin-1 content"), "\(result.stdout)")
        #expect(result.stdout.contains("renamed ['\(hex.replacingOccurrences(of: "2e62696e", with: "2d322e62696e"))']"), "\(result.stdout)")
    }

    @Test func namesWithLineBreaksNeverReachListings() throws {
        let s = try PasvdScenario()
        try s.directory.write("root/plain.txt", "x")
        try s.directory.write("root/evil\r\n226 forged", "x")
        try s.directory.write("root/other\nname", "x")
        let body = """
        lines = []
        ftp.retrlines('LIST', lines.append)
        names = ftp.nlst()
        print('list', len(lines), all(l.startswith('-') for l in lines))
        print('nlst', names)
        """
        let result = try FTPClients.python(host: s.host, port: s.port, body: body)
        expectSuccess(result, "listing")
        #expect(result.stdout.contains("list 1 True"), "\(result.stdout)")
        #expect(result.stdout.contains("nlst ['plain.txt']"), "\(result.stdout)")
    }

    @Test func ipv6ListenerServesTransfersOverEPSV() throws {
        let directory = try TempDirectory("ipv6")
        let root = try directory.makeDirectory("root")
        try TestFiles.random(at: "\(root)/data.bin", size: 3 << 20 + 5)
        let port = try LoopbackNet.freePort(on: LoopbackNet.serverSide)
        let range = try LoopbackNet.freePortRange(count: 4)
        let runner = PasvdScenario.runnerAccount
        let server = try ManagedProcess(try Products.pasvd, [
            "--root", root, "--listen", "::1", "--port", "\(port)", "--anonymous", "--writable",
            "--anonymous-account", runner, "--pasv-ports", "\(range.lowerBound)-\(range.upperBound)",
        ])
        defer { server.stop() }
        try Deadline.wait(for: "pasvd listening on [::1]:\(port)") {
            ProcessSockets.listeningPorts(server.pid).contains(port)
        }
        let url = "ftp://[::1]:\(port)/"
        let work = try TempDirectory("ipv6-client")
        expectSuccess(try FTPClients.curl(["-g", "-o", work.file("down.bin"), url + "data.bin"]), "IPv6 download")
        try expectSameBytes("\(root)/data.bin", work.file("down.bin"))
        expectSuccess(try FTPClients.curl(["-g", "-T", work.file("down.bin"), url + "up.bin"]), "IPv6 upload")
        try expectSameBytes(work.file("down.bin"), "\(root)/up.bin")
        let replies = try FTPClients.python(host: "::1", port: port, body: """
        print(ftp.sendcmd('EPSV'))
        for command in ['EPSV 1', 'PASV']:
            try:
                print(ftp.sendcmd(command))
            except ftplib.error_temp as e:
                print(e)
            except ftplib.error_perm as e:
                print(e)
        """)
        expectSuccess(replies, "IPv6 replies")
        let lines = replies.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3 && lines[0].hasPrefix("229 Entering Extended Passive Mode (|||"), "\(replies.stdout)")
        #expect(lines.count == 3 && lines[1].hasPrefix("522") && lines[1].contains("(2)"), "\(replies.stdout)")
        #expect(lines.count == 3 && lines[2].hasPrefix("425"), "\(replies.stdout)")
        #expect(ProcessSockets.listeningInTree(server.pid).allSatisfy { $0.hasPrefix("[") }, "IPv6 listeners only")
    }
}
