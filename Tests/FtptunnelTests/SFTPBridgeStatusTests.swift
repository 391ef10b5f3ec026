import Foundation
import Testing
import TestSupport

/// `ftptunnel status` in Mode sftp shows the FTP sessions and the transfers in progress with bytes, percent, rate
/// and ETA, as in rewrite mode.
@Suite struct SFTPBridgeStatusTests {
    @Test func statusShowsABridgeDownloadWithPercentAndRateAndAnUploadWithItsRate() throws {
        let runtime = try TempDirectory("bridge-runtime")
        chmod(runtime.path, 0o700)
        let world = try SFTPBridgeWorld(bridgeEnvironment: ["XDG_RUNTIME_DIR": runtime.path])
        try TestFiles.random(at: world.remote("big.bin"), size: 32 << 20, seed: 32)
        try TestFiles.random(at: world.local("up.bin"), size: 32 << 20, seed: 33)
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = world.bridge.home.path
        environment.removeValue(forKey: "XDG_STATE_HOME")
        environment["XDG_RUNTIME_DIR"] = runtime.path
        let destination = "\(world.sshUser)@\(world.sshd.host):\(world.sshd.port)"
        func status() throws -> String {
            let result = try runCommand(try Products.ftptunnel, ["status", destination], seconds: 30, environment: environment)
            return result.status == 0 ? result.stdout : "status \(result.status): \(result.output)"
        }
        #expect(try status().contains("transfers in progress: none"), "\(world.bridge.output)")

        // 32 MiB at 1 MB/s each way: both transfers run for half a minute.
        let download = try ManagedProcess(try which("curl"), ["-s", "--limit-rate", "1m", "\(world.url)/big.bin",
                                                              "-o", world.local("big.bin")])
        defer { download.stop() }
        let upload = try ManagedProcess(try which("curl"), ["-s", "--limit-rate", "1m", "-T", world.local("up.bin"),
                                                            "\(world.url)/up.bin"])
        defer { upload.stop() }
        var last = ""
        let report = try? Deadline.value(of: "both transfers in status", seconds: 30) { () -> String? in
            last = try status()
            let lines = last.split(separator: "\n")
            guard let retr = lines.first(where: { $0.contains("RETR /big.bin  ") }), !retr.contains("RETR /big.bin  0 B"),
                  let stor = lines.first(where: { $0.contains("STOR /up.bin  ") }), !stor.contains("STOR /up.bin  0 B") else { return nil }
            return last
        }
        let shown = try #require(report, "\(last)\n\(world.bridge.output)")
        print("sftp status:\n\(shown)")
        #expect(shown.contains("mode sftp"), "\(shown)")
        #expect(shown.contains("FTP sessions: 2"), "\(shown)")
        let retr = try #require(shown.split(separator: "\n").first { $0.contains("RETR /big.bin") })
        #expect(retr.contains(" of 32.0 MiB (") && retr.contains("%)") && retr.contains("/s") && retr.contains("ETA "), "\(retr)")
        #expect(retr.contains("(FTP session "), "\(retr)")
        let stor = try #require(shown.split(separator: "\n").first { $0.contains("STOR /up.bin") })
        #expect(stor.contains("/s"), "\(stor)")
    }
}
