import Foundation
import Testing
import TestSupport

/// The README's command blocks marked `<!-- readme-test… -->` run as written, line by line, against a real sshd and
/// pasvd: the site `mysite` is a profile in a private XDG_CONFIG_HOME pointing at them, the working directory
/// holds `site/` to upload. Each line runs with `sh -c` and must exit 0; a line ending in `&` is started in the
/// background and waited for until the tunnel is ready (as a person would wait for the ready line); it must have
/// exited 0 by the end of the block.
@Suite(.serialized) struct ReadmeExamplesTests {
    static let marker = "<!-- readme-test"
    static let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("README.md").path

    /// The marked blocks' command lines (comments and blank lines left out), in README order.
    static func markedBlocks() throws -> [[String]] {
        let readme = try String(contentsOfFile: Self.readme, encoding: .utf8)
        var blocks: [[String]] = []
        var lines = readme.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)[...]
        while let index = lines.firstIndex(where: { $0.hasPrefix(marker) }) {
            lines = lines[(index + 1)...]
            guard lines.first?.hasPrefix("```") == true else { break }
            lines = lines.dropFirst()
            let end = lines.firstIndex { $0.hasPrefix("```") } ?? lines.endIndex
            blocks.append(lines[..<end].filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty && !$0.hasPrefix("#") })
            lines = lines[end...]
        }
        return blocks
    }

    @Test func theMarkedBlocksExist() throws {
        let blocks = try Self.markedBlocks()
        #expect(!blocks.isEmpty)
        let all = blocks.joined()
        for command in ["ftptunnel run", "ftptunnel show", "ftptunnel check", "ftptunnel status", "ftptunnel stop"] {
            #expect(all.contains { $0.hasPrefix(command) }, "README's tested blocks lack \(command)")
        }
    }

    @Test func everyMarkedLineWorksAsWritten() throws {
        let sshd = try SSHDFixture()
        let server = try TempDirectory("readme-srv")
        let work = try TempDirectory("readme-work")
        let config = try TempDirectory("readme-config")
        let home = try TempDirectory("readme-home")
        let runtime = try TempDirectory("readme-rt")
        _ = try server.makeDirectory("htdocs")
        _ = try work.makeDirectory("site")
        try work.write("site/index.html", "<h1>hello through SSH</h1>\n")
        try TestFiles.random(at: work.file("site/big.bin"), size: 3 << 20)
        let pasvd = try PasvdFixture(root: server.path, extraArguments: ["--anonymous", "--writable"])
        let knownHosts = try sshd.writeKnownHosts(in: config)
        try config.write("ftptunnel/profiles/mysite.conf", """
        # The test topology: sshd on 127.0.0.1, pasvd on 127.0.0.2.
        HostName \(sshd.host)
        Port \(sshd.port)
        User \(sshd.user)
        IdentityFile \(sshd.userKey)
        UserKnownHostsFile \(knownHosts)
        StrictHostKeyChecking yes
        FTPHost \(LoopbackNet.serverSide)
        FTPPort \(pasvd.port)
        LocalPort \(try LoopbackNet.freePort(on: LoopbackNet.clientSide))

        """)
        var env = ProcessInfo.processInfo.environment
        env["HOME"] = home.path
        env["XDG_CONFIG_HOME"] = config.path
        env["XDG_RUNTIME_DIR"] = runtime.path
        env["FTPTUNNEL_SSH_CONFIG"] = "none"
        env["PATH"] = (try Products.ftptunnel as NSString).deletingLastPathComponent + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        for key in ["SSH_AUTH_SOCK", "SSH_ASKPASS", "SSH_ASKPASS_REQUIRE"] { env.removeValue(forKey: key) }

        for block in try Self.markedBlocks() {
            var background: [ManagedProcess] = []
            for line in block {
                if line.hasSuffix("&") || line.range(of: #"&\s+#"#, options: .regularExpression) != nil {
                    let command = String(line[..<line.lastIndex(of: "&")!])
                    let child = try ManagedProcess("/bin/sh", ["-c", command], environment: env, currentDirectory: work.path)
                    try child.waitForOutput(containing: "ftptunnel: ready —", seconds: 30)
                    background.append(child)
                    continue
                }
                let result = try runCommand("/bin/sh", ["-c", line], seconds: 120, environment: env, currentDirectory: work.path)
                #expect(result.status == 0, "README line failed: \(line)\n\(result.output)")
            }
            for child in background {
                #expect(try child.waitForExit(seconds: 20) == 0, "background README line did not end cleanly: \(child.arguments)\n\(child.output)")
            }
        }
        // What the lines did: the mirror uploaded site/, and run's stdout became index.html byte for byte.
        for name in ["index.html", "big.bin"] {
            #expect(try TestFiles.sha256(server.file("htdocs/\(name)")) == TestFiles.sha256(work.file("site/\(name)")), "\(name)")
        }
        #expect(try TestFiles.sha256(work.file("index.html")) == TestFiles.sha256(work.file("site/index.html")))
    }
}
