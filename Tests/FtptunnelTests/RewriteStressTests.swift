import Foundation
import Testing
import TestSupport

/// Hunts data loss in rewrite mode: parallel 16 MiB downloads through one tunnel from a stock vsftpd whose small
/// passive range runs out, while two busy loops contest both cores, some clients read slowly, and some transfers
/// are sabotaged (their curl killed, or the vsftpd process serving them killed); rounds alternate between a tunnel
/// with one SSH session and one with a pool of three. Every transfer that reports
/// success must be byte-exact, none may be longer than the file, and a transfer nobody sabotaged either completes
/// or is refused before any data arrives: a bystander cut short is the bug this test exists for. The tunnel must
/// still serve a clean download at the end. Bounded: rounds start within `roundsStartWithin` seconds, at most
/// `maximumRounds`, each ending within `transferSeconds` (+15 s to reap).
@Suite(.serialized) struct RewriteStressTests {
    static let fileMiB = 16
    static let maximumRounds = 8
    static let roundsStartWithin = 40.0
    static let transferSeconds = 30
    static let passivePorts = 8
    static let sabotageAfterBytes = 2 << 20

    enum Role: String { case bystander, clientKilled = "client-killed", serverKilled = "server-killed" }

    /// What each round starts, in this order: the sabotaged transfers first (so they get a passive port before the
    /// range runs out; rate-limited, so they are still running when struck), then bystanders in every client
    /// style, fast and slow.
    static let plan: [(Role, [String])] = [
        (.serverKilled, ["--limit-rate", "4M"]), (.clientKilled, ["--limit-rate", "3M"]),
        (.serverKilled, ["--limit-rate", "3M", "-P", "-"]), (.clientKilled, ["--limit-rate", "4M", "--disable-epsv"]),
        (.bystander, []), (.bystander, ["--disable-epsv"]), (.bystander, ["-P", "-"]),
        (.bystander, ["--limit-rate", "2M"]), (.bystander, ["--limit-rate", "2M", "--disable-epsv"]),
        (.bystander, ["--limit-rate", "2M", "-P", "-"]), (.bystander, []), (.bystander, ["--disable-epsv"]),
        (.bystander, ["--limit-rate", "4M"]), (.bystander, ["-P", "-"]),
    ]

    struct Outcome: CustomStringConvertible {
        let name: String
        let role: Role
        let flags: [String]
        let status: Int32
        let bytes: Int
        let sabotaged: Bool
        let sha256: String?
        let curlOutput: String

        var description: String {
            "\(name) \(role.rawValue)\(sabotaged ? "" : " (not sabotaged)") \(flags) exit \(status), \(bytes) bytes"
                + (bytes % 32768 == 0 ? " (a multiple of 32768)" : "") + (curlOutput.isEmpty ? "" : ": \(curlOutput)")
        }
    }

    @Test func downloadsStayByteExactUnderLoadAndFaults() throws {
        let sshd = try SSHDFixture()
        let root = try TempDirectory("stress-root")
        let work = try TempDirectory("stress-work")
        let knownHosts = try sshd.writeKnownHosts(in: work)
        let payload = root.file("payload.bin")
        try TunnelPayload.random(at: payload, mebibytes: Self.fileMiB)
        let size = TestFiles.size(payload)
        let hash = try TestFiles.sha256(payload)
        let vsftpd = try VsftpdFixture(root: root.path, passivePortCount: Self.passivePorts)
        // Rounds alternate between one SSH session and a pool of three.
        let tunnels = try ["1", "3"].map {
            try RewriteTunnelProcess(sshd: sshd, knownHosts: knownHosts, ftpPort: vsftpd.port,
                                     extraArguments: ["-vv", "-o", "Sessions=\($0)"])
        }

        var outcomes: [Outcome] = []
        do {
            let load = try CPUContention()
            defer { load.stop() }
            let start = Date()
            for round in 0..<Self.maximumRounds where Date().timeIntervalSince(start) < Self.roundsStartWithin {
                outcomes += try runRound(round, root: root, work: work, tunnel: tunnels[round % tunnels.count],
                                         vsftpd: vsftpd, size: size)
            }
        }
        print("stress: " + Self.summary(outcomes) + "\n" + outcomes.map { "stress:   \($0)" }.joined(separator: "\n"))

        let evidence = { () -> String in Self.saveEvidence(outcomes, tunnelLogs: tunnels.map(\.output)) }
        for outcome in outcomes {
            #expect(outcome.bytes <= size, "longer than the file: \(outcome)")
            if outcome.status == 0 {
                #expect(outcome.bytes == size && outcome.sha256 == hash, "reported success but differs: \(outcome); \(evidence())")
            }
            if outcome.role == .bystander || !outcome.sabotaged {
                #expect(outcome.status == 0 || outcome.bytes == 0, "truncated without a fault: \(outcome); \(evidence())")
            }
        }
        #expect(outcomes.filter { $0.role == .bystander && $0.status == 0 }.count >= 2 * Self.maximumRounds,
                "too few bystanders completed for the run to mean anything: \(Self.summary(outcomes))")

        for (index, tunnel) in tunnels.enumerated() {
            #expect(tunnel.process.isRunning, "tunnel \(index) exited: \(tunnel.output.suffix(4000))")
            let final = work.file("final-\(index).bin")
            let clean = try FTPClients.curl(["\(tunnel.url)/payload.bin", "-o", final], seconds: 60)
            #expect(clean.status == 0, "clean transfer after the stress: \(clean.output)\n\(tunnel.output.suffix(4000))")
            #expect(try TestFiles.sha256(final) == hash, "tunnel \(index)'s clean transfer")
        }
    }

    /// Starts the plan at once, sabotages its victims once they have data flowing, and waits for every curl.
    private func runRound(_ round: Int, root: TempDirectory, work: TempDirectory, tunnel: RewriteTunnelProcess,
                          vsftpd: VsftpdFixture, size: Int) throws -> [Outcome] {
        var downloads: [(Role, [String], BackgroundDownload)] = []
        for (index, (role, flags)) in Self.plan.enumerated() {
            // One hard link per transfer, so the vsftpd process serving it is the one holding that name open.
            let name = "r\(round)-\(index)-\(role.rawValue).bin"
            try FileManager.default.linkItem(atPath: root.file("payload.bin"), toPath: root.file(name))
            let download = try BackgroundDownload(name: name, url: "\(tunnel.url)/\(name)", output: work.file(name),
                                                  flags: flags, seconds: Self.transferSeconds)
            downloads.append((role, flags, download))
        }
        var sabotaged: Set<String> = []
        for (role, _, download) in downloads where role != .bystander {
            // Load shaping, not synchronisation: strike once this transfer has data flowing (or give up if it ended).
            try? Deadline.wait(for: "\(download.name) to receive data", seconds: Double(Self.transferSeconds)) {
                download.bytesReceived >= Self.sabotageAfterBytes || !download.isRunning
            }
            guard download.isRunning, download.bytesReceived < size else { continue }
            switch role {
            case .clientKilled:
                download.process.killTree()
                sabotaged.insert(download.name)
            case .serverKilled:
                let servers = OpenFiles.processes(under: vsftpd.pid, holding: root.file(download.name))
                servers.forEach { kill($0, SIGKILL) }
                if !servers.isEmpty { sabotaged.insert(download.name) }
            case .bystander:
                break
            }
        }
        try Deadline.wait(for: "round \(round)'s downloads to end", seconds: Double(Self.transferSeconds + 15)) {
            downloads.allSatisfy { !$0.2.isRunning }
        }
        return try downloads.map { role, flags, download in
            let status = try download.status()
            let bytes = download.bytesReceived
            let digest = status == 0 && bytes > 0 ? try TestFiles.sha256(download.output) : nil
            return Outcome(name: download.name, role: role, flags: flags, status: status, bytes: bytes,
                           sabotaged: sabotaged.contains(download.name), sha256: digest,
                           curlOutput: download.process.stderr.trimmingCharacters(in: .whitespacesAndNewlines))
        }
    }

    static func summary(_ outcomes: [Outcome]) -> String {
        let completed = outcomes.filter { $0.status == 0 }.count
        let refused = outcomes.filter { $0.status != 0 && $0.bytes == 0 }.count
        let cut = outcomes.filter { $0.status != 0 && $0.bytes > 0 }
        return "\(outcomes.count) transfers: \(completed) completed, \(refused) refused before data, \(cut.count) cut short"
            + (cut.isEmpty ? "" : " [" + cut.map { "\($0.name) exit \($0.status) at \($0.bytes)" }.joined(separator: "; ") + "]")
    }

    /// Keeps the tunnel's -vv log and the outcomes outside the temporary directories, and says where.
    static func saveEvidence(_ outcomes: [Outcome], tunnelLogs: [String]) -> String {
        let directory = NSTemporaryDirectory() + "ftptunnel-stress-evidence-\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (index, log) in tunnelLogs.enumerated() {
            try? log.write(toFile: directory + "/tunnel-\(index)-vv.log", atomically: true, encoding: .utf8)
        }
        try? outcomes.map(\.description).joined(separator: "\n").write(toFile: directory + "/transfers.txt", atomically: true, encoding: .utf8)
        return "evidence (tunnel -vv logs; even rounds went through tunnel 0, odd through 1; every transfer) in \(directory)"
    }
}
