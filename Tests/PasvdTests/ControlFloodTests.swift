import Foundation
import Testing
import TestSupport

/// A client starts a large download, never reads the data connection and floods the control connection with
/// command lines: the session's memory stays bounded, it ends soon after the client leaves, and it burns no CPU
/// afterwards.
@Suite struct ControlFloodTests {
    static let dataTimeout = 3
    static let floodBytes = 8 << 20

    /// Logs in, RETRs argv[1] over EPSV without reading it, floods `A\n` (non-blocking) until argv[2] bytes are
    /// out or the server stopped reading for 3 s, then leaves. Prints the bytes flooded.
    static let client = """
    import socket, time
    ftp.voidcmd('TYPE I')
    data = socket.socket(); data.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    port = int(ftp.sendcmd('EPSV').split('|')[3])
    data.connect((ftp.host, port))
    ftp.putcmd('RETR ' + sys.argv[1])
    print(ftp.getresp(), flush=True)
    ftp.sock.setblocking(False)
    chunk, sent, stalled = b'A\\n' * 32768, 0, time.monotonic()
    while sent < int(sys.argv[2]) and time.monotonic() - stalled < 3:
        try:
            n = ftp.sock.send(chunk)
            sent += n
            stalled = time.monotonic()
        except BlockingIOError:
            time.sleep(0.01)
    print('flooded', sent, flush=True)
    ftp.sock.close(); data.close()
    sys.exit(0)
    """

    @Test func floodDuringATransferStaysBounded() throws {
        let s = try PasvdScenario(extraArguments: ["--data-timeout", "\(Self.dataTimeout)"])
        let big = s.path("big.bin")
        #expect(FileManager.default.createFile(atPath: big, contents: nil) && truncate(big, 2 << 30) == 0)
        let idle = try s.control(login: .anonymous)  // another session, which must not notice anything
        let script = """
        import ftplib, sys
        ftp = ftplib.FTP()
        ftp.connect('\(s.host)', \(s.port), timeout=30)
        ftp.login('anonymous', 'x@')
        \(Self.client)
        """
        let flooder = try ManagedProcess(try which("python3"), ["-c", script, "big.bin", "\(Self.floodBytes)"])
        try flooder.waitForOutput(containing: "150")
        // The account worker serving both anonymous sessions: the flood must not hurt its neighbour.
        let session = try #require(SessionProcesses.accountWorkers(s.server.process.pid).first)
        let baseline = (ProcessMemory.residentBytes(session) ?? 0) / 1024
        var peak = baseline
        try Deadline.wait(for: "the flooding client to leave", seconds: 60) {
            peak = max(peak, (ProcessMemory.residentBytes(session) ?? 0) / 1024)
            return !flooder.isRunning
        }
        let left = Date()
        #expect(flooder.stdout.contains("150"), "\(flooder.output)")
        let flooded = Int(flooder.stdout.split(separator: "\n").first { $0.hasPrefix("flooded") }?.split(separator: " ").last ?? "") ?? 0
        try Deadline.wait(for: "the flooded session to end", seconds: Double(Self.dataTimeout + 10)) {
            s.server.process.stderr.contains("failed after") && s.server.process.stderr.contains("disconnected")
        }
        let ended = Date().timeIntervalSince(left)
        try Deadline.wait(for: "only the account worker left", seconds: 10) {
            SessionProcesses.loginWorkers(s.server.process.pid).isEmpty
        }
        let cpuBefore = SessionProcesses.cpuTicks(s.server.process.pid)
        Thread.sleep(forTimeInterval: 1)  // a measurement interval, not synchronisation
        let cpuAfter = SessionProcesses.cpuTicks(s.server.process.pid)
        let burnt = cpuAfter.reduce(0) { $0 + $1.value - (cpuBefore[$1.key] ?? $1.value) }
        print("flood: \(flooded) bytes sent, session RSS \(baseline) -> peak \(peak) KiB, session ended \(String(format: "%.1f", ended)) s after the client left, CPU ticks in the next second \(burnt)")
        #expect(flooded > 0)
        #expect(peak - baseline < 64 * 1024, "RSS grew from \(baseline) to \(peak) KiB")
        #expect(burnt <= 5, "CPU still burnt after the client left: \(burnt) ticks")
        #expect(idle.command("NOOP")?.hasPrefix("200") == true, "another session suffered")
    }
}

extension ControlFloodTests {
    /// Control traffic during a stalled download does not keep it alive: --data-timeout counts data progress only.
    @Test func commandsDuringAStalledDownloadDoNotPostponeTheDataTimeout() throws {
        let s = try PasvdScenario(extraArguments: ["--data-timeout", "2"])
        let big = s.path("big.bin")
        #expect(FileManager.default.createFile(atPath: big, contents: nil) && truncate(big, 1 << 30) == 0)
        let body = """
        import select, socket, time
        ftp.voidcmd('TYPE I')
        data = socket.socket(); data.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        data.connect((ftp.host, int(ftp.sendcmd('EPSV').split('|')[3])))
        ftp.putcmd('RETR big.bin')
        print(ftp.getresp(), flush=True)
        start = time.monotonic()
        while time.monotonic() - start < 15:
            ftp.sock.send(b'NOOP\\r\\n')
            if select.select([ftp.sock], [], [], 0.3)[0]:
                print('first reply after %.1f s: %s' % (time.monotonic() - start, ftp.file.readline().strip()))
                break
        data.close()
        """
        let result = try FTPClients.python(host: s.host, port: s.port, body: body, seconds: 60)
        expectSuccess(result, "stalled download")
        let line = result.stdout.split(separator: "\n").first { $0.hasPrefix("first reply") } ?? ""
        let words = line.split(separator: " ")
        let seconds = words.count > 3 ? Double(words[3]) ?? 99 : 99
        #expect(line.hasSuffix("426 Data connection timed out."), "\(result.stdout)")
        #expect(seconds < 2 + 3, "\(line)")
    }
}

/// The processes serving a pasvd (the listener, its login workers and account workers) as one cost.
enum SessionProcesses {
    static func all(_ pid: pid_t) -> [pid_t] { [pid] + ProcessTree.descendants(of: pid) }
    /// The account workers of the listener `pid` (serving `root` only, when given).
    static func accountWorkers(_ pid: pid_t, root: String? = nil) -> [pid_t] {
        ProcessTree.descendants(of: pid).filter { worker in
            let arguments = commandLine(worker)
            return arguments.contains("--account-worker") && (root.map { arguments.contains("--worker-root=\($0)") } ?? true)
        }.sorted()
    }
    /// The login workers of the listener `pid` (connections not logged in yet).
    static func loginWorkers(_ pid: pid_t) -> [pid_t] {
        ProcessTree.descendants(of: pid).filter { commandLine($0).contains("--hand-off-fd") }.sorted()
    }
    static func commandLine(_ pid: pid_t) -> [String] {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return [] }
        return data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    }
    /// CPU ticks of each process alive now.
    static func cpuTicks(_ pid: pid_t) -> [pid_t: Int] {
        Dictionary(uniqueKeysWithValues: all(pid).compactMap { process in ProcessFiles.cpuTicks(process).map { (process, $0) } })
    }
}
