import Foundation
import Testing
import TestSupport

/// --inetd (one session on stdin/stdout), a sparse file beyond 4 GiB, and 200 idle sessions.
@Suite struct InetdAndScaleTests {
    @Test func inetdServesOneSessionOnStdinStdout() throws {
        let root = try TempDirectory("inetd")
        try TestFiles.random(at: root.file("data.bin"), size: 2 << 20 + 7)
        // Started as root, the anonymous session switches to ftp (or nobody), which must be able to read the root.
        chmod(root.path, 0o755)
        let range = try LoopbackNet.freePortRange(count: 4)
        // Python accepts a TCP connection on 127.0.0.2, hands it to pasvd as stdin/stdout, and drives the
        // client end with ftplib: passive listeners must bind the address of that socket.
        let script = """
        import ftplib, hashlib, socket, subprocess, sys
        pasvd, root, ports = sys.argv[1], sys.argv[2], sys.argv[3]
        listener = socket.create_server(('127.0.0.2', 0))
        client = socket.create_connection(listener.getsockname())
        server_end, _ = listener.accept()
        child = subprocess.Popen([pasvd, '--root', root, '--anonymous', '--inetd', '--pasv-ports', ports],
                                 stdin=server_end, stdout=server_end)
        server_end.close()
        ftp = ftplib.FTP()
        ftp.sock, ftp.af, ftp.host = client, client.family, '127.0.0.2'
        ftp.file = client.makefile('r', encoding=ftp.encoding)
        ftp.welcome = ftp.getresp()
        ftp.login()
        h = hashlib.sha256()
        ftp.retrbinary('RETR data.bin', h.update)
        print('SHA', h.hexdigest())
        print('EPSV', ftp.sendcmd('EPSV'))
        ftp.quit()
        print('EXIT', child.wait(timeout=20))
        """
        let result = try runCommand("python3", ["-c", script, try Products.pasvd, root.path,
                                                "\(range.lowerBound)-\(range.upperBound)"], seconds: 60)
        expectSuccess(result, "inetd session")
        #expect(result.stdout.contains("SHA \(try TestFiles.sha256(root.file("data.bin")))"), "\(result.output)")
        #expect(result.stdout.contains("EXIT 0"))
        let port = Int(result.stdout.split(separator: "|").dropFirst().first ?? "") ?? 0
        #expect(range.contains(port), "\(result.stdout)")
        if geteuid() == 0 { #expect(result.stderr.contains("session runs as ftp") || result.stderr.contains("session runs as nobody"), "\(result.stderr)") }
    }

    @Test func sparseFileBeyondFourGiB() throws {
        let s = try PasvdScenario()
        let size = (4 << 30) + (64 << 20) + 12_345
        let path = s.path("huge.bin")
        // Random bytes at the start and beyond the 4 GiB mark, a hole in between.
        try TestFiles.random(at: path, size: 1 << 20, seed: 1)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seek(toOffset: UInt64(4 << 30) + 4096)
        var tail = Data(count: 1 << 20)
        tail.withUnsafeMutableBytes { buffer in for i in 0..<buffer.count { buffer[i] = UInt8(truncatingIfNeeded: i &* 31 &+ 7) } }
        handle.write(tail)
        try handle.truncate(atOffset: UInt64(size))
        try handle.close()
        let expected = try TestFiles.sha256(path)

        let control = try s.control(login: .anonymous)
        #expect(control.command("SIZE huge.bin") == "213 \(size)")
        let mlst = control.command("MLST huge.bin") ?? ""
        #expect(mlst.contains("size=\(size);"))
        // Full download, hashed on the fly by the client.
        let full = try runCommand("/bin/sh", ["-c", "curl -sS --max-time 300 '\(s.url(.anonymous, "huge.bin"))' | sha256sum"],
                                  seconds: 320)
        expectSuccess(full, "download")
        #expect(full.stdout.hasPrefix(expected), "\(full.output)")
        // REST beyond 4 GiB: the tail only.
        let offset = (4 << 30) + 1000
        let body = """
        h = hashlib.sha256(); n = [0]
        def take(b): h.update(b); n[0] += len(b)
        ftp.retrbinary('RETR huge.bin', take, rest=\(offset))
        print(n[0], h.hexdigest())
        """
        let remote = try FTPClients.python(host: s.host, port: s.port, body: body)
        expectSuccess(remote, "REST beyond 4 GiB")
        let local = try runChecked("python3", ["-c", """
            import hashlib, sys
            f = open(sys.argv[1], 'rb'); f.seek(\(offset)); h = hashlib.sha256(); n = 0
            while True:
                b = f.read(1 << 20)
                if not b: break
                h.update(b); n += len(b)
            print(n, h.hexdigest())
            """, path])
        #expect(remote.stdout == local.stdout && local.stdout.hasPrefix("\(size - offset) "))
    }

    /// 200 idle sessions of one account: ceil(200 / 32) account workers and the listener, nothing else (the login
    /// workers exit after the hand-off). The memory target itself is in Benchmarks/sections/idle.sh (section `idle`).
    @Test func twoHundredIdleSessionsShareAFewProcesses() throws {
        let s = try PasvdScenario(extraArguments: ["--max-sessions", "250"])
        var sessions: [RawFTPControl] = []
        for _ in 0..<200 { sessions.append(try s.control(login: .anonymous)) }
        #expect(sessions.last?.command("NOOP")?.hasPrefix("200") == true)
        defer { withExtendedLifetime(sessions) {} }  // keep the sessions open while measuring (optimised builds)
        try Deadline.wait(for: "the login workers to exit and be reaped") {
            SessionProcesses.all(s.server.process.pid).count == 1 + SessionProcesses.accountWorkers(s.server.process.pid).count
        }
        let processes = SessionProcesses.all(s.server.process.pid)
        let rss = processes.compactMap { ProcessFiles.rollupKiB($0, "Rss") }.reduce(0, +)
        let pss = processes.compactMap { ProcessFiles.rollupKiB($0, "Pss") }.reduce(0, +)
        print("pasvd with 200 idle logged-in sessions: \(processes.count) processes, RSS sum \(rss) KiB, PSS sum \(pss) KiB")
        #expect(SessionProcesses.accountWorkers(s.server.process.pid).count == 7, "ceil(200 / 32) account workers")
        #expect(processes.count == 8)
        #expect(pss < 200 * 1024, "PSS sum \(pss) KiB")
    }
}
