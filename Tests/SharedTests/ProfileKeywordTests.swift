import Foundation
import Testing
@testable import FTPCore
@testable import TunnelCore

/// Every keyword: accepted values land in TunnelSettings with their line; bad values name file, line and keyword.
@Suite struct ProfileKeywordTests {
    @Test func everyKeywordIsAppliedWithItsLine() throws {
        let world = try ProfileTestWorld()
        try world.profile("all",
            "HostName ssh.example.com",                     // 1
            "User deploy",                                  // 2
            "Port 2200",                                    // 3
            "IdentityFile ~/.ssh/id_%h_%r_%p",              // 4
            "IdentityFile \"/keys/with space\"",            // 5
            "IdentitiesOnly yes",                           // 6
            "UserKnownHostsFile ~/kh1 /etc/kh2",            // 7
            "StrictHostKeyChecking accept-new",             // 8
            "ServerAliveInterval 15",                       // 9
            "ServerAliveCountMax 4",                        // 10
            "ConnectTimeout 7",                             // 11
            "Ciphers aes256-ctr,aes128-ctr",                // 12
            "MACs hmac-sha2-256",                           // 13
            "KexAlgorithms curve25519-sha256",              // 14
            "HostKeyAlgorithms ssh-ed25519,ecdsa-sha2-nistp256", // 15
            "FTPHost popeye",                               // 16
            "FTPPort 2121",                                 // 17
            "LocalPort 2100",                               // 18
            "PassivePorts 40000-40009",                     // 19
            "Mode fixed",                                   // 20
            "DataWindow 32M",                               // 21
            "PassiveHost server",                           // 22
            "Sessions 4",                                   // 23
            "BindAddress 0.0.0.0")                          // 24
        let resolved = try world.resolve("all")
        let s = resolved.settings
        let h = world.home
        #expect(s.sshHost == "ssh.example.com")
        #expect(s.user == "deploy")
        #expect(s.sshPort == 2200)
        #expect(s.identityFiles == ["\(h)/.ssh/id_ssh.example.com_deploy_2200", "/keys/with space"])
        #expect(s.identitiesOnly)
        #expect(s.knownHostsFiles == ["\(h)/kh1", "/etc/kh2"])
        #expect(s.strictHostKeyChecking == .acceptNew)
        #expect(s.serverAliveInterval == 15)
        #expect(s.serverAliveCountMax == 4)
        #expect(s.connectTimeout == 7)
        #expect(s.ciphers == ["aes256-ctr", "aes128-ctr"])
        #expect(s.macs == ["hmac-sha2-256"])
        #expect(s.kexAlgorithms == ["curve25519-sha256"])
        #expect(s.hostKeyAlgorithms == ["ssh-ed25519", "ecdsa-sha2-nistp256"])
        #expect(s.ftpHost == "popeye")
        #expect(s.ftpPort == 2121)
        #expect(s.localPort == 2100)
        #expect(s.passivePorts == PortRange(lower: 40000, upper: 40009))
        #expect(s.mode == .fixed)
        #expect(s.dataWindow == 32 << 20)
        #expect(s.passiveHost == .server)
        #expect(s.sessions == 4)
        #expect(s.bindAddress == "0.0.0.0")
        #expect(resolved.profilePath == "\(h)/.config/ftptunnel/profiles/all.conf")

        let file = "\(ProfileTestWorld.profileDisplayDirectory)/all.conf"
        let expectedLines: [(String, Int)] = [
            ("HostName", 1), ("User", 2), ("Port", 3), ("IdentitiesOnly", 6), ("UserKnownHostsFile", 7),
            ("StrictHostKeyChecking", 8), ("ServerAliveInterval", 9), ("ServerAliveCountMax", 10), ("ConnectTimeout", 11),
            ("Ciphers", 12), ("MACs", 13), ("KexAlgorithms", 14), ("HostKeyAlgorithms", 15), ("FTPHost", 16),
            ("FTPPort", 17), ("LocalPort", 18), ("PassivePorts", 19), ("Mode", 20), ("DataWindow", 21),
            ("PassiveHost", 22), ("Sessions", 23), ("BindAddress", 24),
        ]
        for (keyword, line) in expectedLines { #expect(resolved.sources[keyword] == "\(file):\(line)", "\(keyword)") }
        #expect(resolved.sources["IdentityFile"] == "\(file):4, \(file):5")
        // GatewayPorts is shown as BindAddress; ProxyCommand shares ProxyJump's slot (not set here: ProxyJump's line).
        #expect(Set(resolved.entries.map(\.keyword)) == Set(ProfileKeyword.allCases.filter { $0 != .gatewayPorts && $0 != .proxyCommand }.map(\.rawValue)))
        #expect(resolved.notes.contains { $0.contains("local listeners bind 0.0.0.0") })
    }

    @Test func defaultsWhenNothingIsSet() throws {
        let world = try ProfileTestWorld()
        let resolved = try world.resolve("plain.example.org")
        let s = resolved.settings
        #expect(s.sshHost == "plain.example.org")
        #expect(s.user == "tester")
        #expect(s.sshPort == 22)
        #expect(s.identityFiles.isEmpty)
        #expect(s.knownHostsFiles == ["\(world.home)/.ssh/known_hosts"])
        #expect(s.strictHostKeyChecking == nil)
        #expect(s.connectTimeout == nil)
        #expect(s.ciphers == nil)
        #expect(s.localPort == nil)
        #expect(s.passivePorts == nil)
        #expect(s.mode == .rewrite)
        #expect(s.dataWindowAuto && s.dataWindow == 2 << 20 && s.dataWindowMax == 128 << 20)
        #expect(s.passiveHost == .ignore)
        #expect(s.sessions == 1)
        #expect(s.bindAddress == "127.0.0.1")
        #expect(s.ftpHost == "127.0.0.1" && s.ftpPort == 21)
        #expect(resolved.profilePath == nil)
        #expect(resolved.sources["HostName"] == "command line (DEST)")
        #expect(resolved.sources["User"] == "default (local user name)")
        #expect(resolved.sources["Port"] == "default")
        #expect(resolved.sources["Mode"] == "default")
        #expect(resolved.entries.first { $0.keyword == "ConnectTimeout" }?.value == nil)
        #expect(resolved.notes.isEmpty)
    }

    @Test(arguments: [
        ("DataWindow 16M", 16 << 20), ("DataWindow 512K", 512 << 10), ("DataWindow 1G", 1 << 30),
        ("DataWindow 65536", 65536), ("DataWindow 16MiB", 16 << 20), ("DataWindow 16mb", 16 << 20),
        ("DataWindow 64k", 64 << 10), ("DataWindow 131072B", 131072),
    ])
    func dataWindowSizes(_ line: String, _ bytes: Int) throws {
        let world = try ProfileTestWorld()
        try world.profile("p", line)
        let settings = try world.resolve("p").settings
        #expect(settings.dataWindow == bytes && !settings.dataWindowAuto)
    }

    @Test func earlyDataChannelIsOffUnlessTurnedOn() throws {
        let world = try ProfileTestWorld()
        try world.profile("on", "EarlyDataChannel yes")
        try world.profile("plain", "Port 22")
        #expect(try world.resolve("on").settings.earlyDataChannel)
        let plain = try world.resolve("plain")
        #expect(!plain.settings.earlyDataChannel)
        #expect(plain.entries.first { $0.keyword == "EarlyDataChannel" }?.value == "no")
    }

    @Test func dataWindowAutoWithAMaximum() throws {
        let world = try ProfileTestWorld()
        try world.profile("p", "DataWindow auto\nDataWindowMax 32M")
        let resolved = try world.resolve("p")
        #expect(resolved.settings.dataWindowAuto && resolved.settings.dataWindowMax == 32 << 20)
        #expect(resolved.entries.first { $0.keyword == "DataWindow" }?.value == "auto")
    }

    @Test(arguments: [
        ("StrictHostKeyChecking yes", TunnelSettings.HostKeyPolicy.yes), ("StrictHostKeyChecking no", .no),
        ("StrictHostKeyChecking off", .no), ("StrictHostKeyChecking ask", .ask), ("StrictHostKeyChecking ACCEPT-NEW", .acceptNew),
        ("StrictHostKeyChecking=true", .yes), ("StrictHostKeyChecking false", .no),
    ])
    func hostKeyPolicies(_ line: String, _ policy: TunnelSettings.HostKeyPolicy) throws {
        let world = try ProfileTestWorld()
        try world.profile("p", line)
        #expect(try world.resolve("p").settings.strictHostKeyChecking == policy)
    }

    @Test(arguments: [
        ("ServerAliveInterval 0", 0), ("ServerAliveInterval 30s", 30), ("ServerAliveInterval 5m", 300),
        ("ServerAliveInterval 1h", 3600), ("ServerAliveInterval 1d", 86_400),
    ])
    func durations(_ line: String, _ seconds: Int) throws {
        let world = try ProfileTestWorld()
        try world.profile("p", line)
        #expect(try world.resolve("p").settings.serverAliveInterval == seconds)
    }

    @Test(arguments: [
        ("BindAddress localhost", "127.0.0.1"), ("BindAddress *", "0.0.0.0"), ("BindAddress ::1", "::1"),
        ("BindAddress [::1]", "::1"), ("BindAddress 10.1.2.3", "10.1.2.3"), ("GatewayPorts yes", "0.0.0.0"),
        ("GatewayPorts no", "127.0.0.1"), ("BindAddress 127.0.0.5", "127.0.0.5"),
    ])
    func bindAddresses(_ line: String, _ address: String) throws {
        let world = try ProfileTestWorld()
        try world.profile("p", line)
        #expect(try world.resolve("p").settings.bindAddress == address)
    }

    @Test func modesAndPassiveHostAreCaseInsensitive() throws {
        let world = try ProfileTestWorld()
        try world.profile("p", "mode FIXED", "passivehost Server", "LocalPort 0", "PassivePorts 2534")
        let s = try world.resolve("p").settings
        #expect(s.mode == .fixed && s.passiveHost == .server && s.localPort == 0)
        try world.profile("q", "Mode fixed")
        #expect(try world.resolve("q").notes == ["~/.config/ftptunnel/profiles/q.conf:1: Mode fixed without PassivePorts "
            + "forwards only the control connection, so transfers will fail — set PassivePorts to the server's passive port range"])
        #expect(s.passivePorts == PortRange(lower: 2534, upper: 2534))
    }

    @Test func pathTokensExpand() throws {
        let world = try ProfileTestWorld()
        try world.profile("p", "HostName h.example", "User remote", "Port 2022",
                          "IdentityFile ~/%u/%r@%h:%p/%%/%n", "IdentityFile %d/k", "IdentityFile /u%i", "IdentityFile relative/key",
                          "UserKnownHostsFile ~/.ssh/kh_%h")
        let s = try world.resolve("p").settings
        #expect(s.identityFiles == ["\(world.home)/tester/remote@h.example:2022/%/h.example", "\(world.home)/k", "/u\(getuid())",
                                "relative/key"])
        #expect(s.knownHostsFiles == ["\(world.home)/.ssh/kh_h.example"])
    }

    @Test func sameValueTwiceIsHarmlessAndIdentityFilesAccumulate() throws {
        let world = try ProfileTestWorld()
        try world.profile("p", "Port 2200", "port=2200", "IdentityFile /a", "IdentityFile /b", "IdentityFile /a",
                          "GatewayPorts yes", "BindAddress 0.0.0.0")
        let s = try world.resolve("p").settings
        #expect(s.sshPort == 2200 && s.identityFiles == ["/a", "/b"] && s.bindAddress == "0.0.0.0")
    }

    // Each bad line is put on line 3 of a profile; the error names the file, line 3, the keyword and a remedy.
    @Test(arguments: [
        ("Port 0", "Port: '0' is not a port number — use a number from 1 to 65535"),
        ("Port 65536", "Port: '65536' is not a port number"),
        ("Port abc", "Port: 'abc' is not a port number"),
        ("Port -1", "Port: '-1' is not a port number"),
        ("Port 22 23", "Port: expects one value but 2 were given"),
        ("Port", "Port: no value given — write `Port VALUE`"),
        ("User \"\"", "User: '' is not a user name"),
        ("HostName \"a b\"", "HostName: 'a b' is not a host name or address"),
        ("FTPPort 0", "FTPPort: '0' is not a port number"),
        ("FTPHost a/b", "FTPHost: 'a/b' is not a host name or address"),
        ("LocalPort 65536", "LocalPort: '65536' is not a port number — use a number from 0 to 65535"),
        ("PassivePorts 5-1", "PassivePorts: '5-1' is not a port range — write LO-HI"),
        ("PassivePorts 1-70000", "PassivePorts: '1-70000' is not a port range"),
        ("PassivePorts 40000:40009", "PassivePorts: '40000:40009' is not a port range"),
        ("Mode fast", "Mode: 'fast' is not one of fixed, rewrite, sftp — write fixed, rewrite or sftp"),
        ("DataWindow 1K", "DataWindow: '1K' is outside 64K…1G — use a size in that range"),
        ("DataWindow 2G", "DataWindow: '2G' is outside 64K…1G"),
        ("DataWindow 16X", "DataWindow: '16X' is not a size — write bytes or a number with K, M or G"),
        ("DataWindow M", "DataWindow: 'M' is not a size"),
        ("DataWindow 99999999999999G", "DataWindow: '99999999999999G' is not a size"),
        ("Sessions 0", "Sessions: '0' is not a whole number from 1 to 16 sessions"),
        ("Sessions 17", "Sessions: '17' is not a whole number from 1 to 16 sessions"),
        ("StrictHostKeyChecking maybe", "StrictHostKeyChecking: 'maybe' is not a host key policy — write yes, accept-new, ask or no"),
        ("IdentitiesOnly perhaps", "IdentitiesOnly: 'perhaps' is neither yes nor no — write yes or no"),
        ("ServerAliveInterval -1", "ServerAliveInterval: '-1' is not a duration from 0 to 86400 seconds"),
        ("ServerAliveInterval 2d", "ServerAliveInterval: '2d' is not a duration"),
        ("ServerAliveCountMax x", "ServerAliveCountMax: 'x' is not a whole number from 0 to 1000"),
        ("ConnectTimeout 0", "ConnectTimeout: '0' is not a duration from 1 to 3600 seconds"),
        ("Ciphers +aes128-cbc", "Ciphers: '+aes128-cbc' edits a default list with '+' — list the algorithms explicitly"),
        ("MACs -hmac-sha1", "MACs: '-hmac-sha1' edits a default list with '-'"),
        ("KexAlgorithms ^curve25519-sha256", "KexAlgorithms: '^curve25519-sha256' edits a default list with '^'"),
        ("HostKeyAlgorithms ssh-ed25519,,x", "HostKeyAlgorithms: 'ssh-ed25519,,x' is not a comma-separated list"),
        ("Ciphers aes128-ctr aes256-ctr", "Ciphers: expects one value but 2 were given"),
        ("BindAddress example.com", "BindAddress: 'example.com' is not a numeric IP address"),
        ("GatewayPorts clientspecified", "GatewayPorts: 'clientspecified' is neither yes nor no"),
        ("PassiveHost trust", "PassiveHost: 'trust' is not one of ignore, server"),
        ("IdentityFile ~/.ssh/%z", "IdentityFile: '~/.ssh/%z' contains the unknown token %z — use %L, %d, %h, %i, %l, %n, %p, %r, %u or %%"),
        ("IdentityFile /k%", "IdentityFile: '/k%' ends with a lone %"),
        ("IdentityFile ~nosuchuser-ftptunnel/k", "IdentityFile: '~nosuchuser-ftptunnel/k' names an unknown user"),
        ("UserKnownHostsFile", "UserKnownHostsFile: no value given"),
        ("Prot 22", "Prot: unknown keyword — did you mean Port?"),
        ("FTPPrt 21", "FTPPrt: unknown keyword — did you mean FTPPort?"),
        ("Completely 1", "Completely: unknown keyword — use one of: HostName, User, Port,"),
        ("ForwardAgent yes", "ForwardAgent: unknown keyword"),
        ("Password hunter2", "Password: passwords are never read from profiles or the command line — use ssh-agent or a key"),
        ("PasswordFile ~/.pw", "PasswordFile: passwords are never read"),
        ("FTPPassword x", "FTPPassword: passwords are never read"),
        ("Passphrase x", "Passphrase: passwords are never read"),
        ("Host *", "Host: not allowed here — a profile describes one site"),
        ("Match all", "Match: not allowed here"),
        ("Include other.conf", "Include: not allowed here"),
        ("Port 23", "Port: '23' contradicts the value already given at ~/.config/ftptunnel/profiles/p.conf:1 — keep only one"),
        ("BindAddress 127.0.0.1", "BindAddress: '127.0.0.1' contradicts the value already given at ~/.config/ftptunnel/profiles/p.conf:2"),
        ("IdentityFile \"/a b", "a \" quote is not closed"),
    ])
    func badLineNamesFileLineAndKeyword(_ line: String, _ expected: String) throws {
        let world = try ProfileTestWorld()
        let error = try world.profileError(["Port 22", "GatewayPorts yes", line])
        #expect(error.description.hasPrefix("~/.config/ftptunnel/profiles/p.conf:3: \(expected)"), "\(error)")
        #expect(error.source == .file("~/.config/ftptunnel/profiles/p.conf", line: 3))
        #expect(!error.description.contains("\n"))
    }

    @Test func passwordAuthenticationIsNotMistakenForASecret() {
        #expect(!ProfileKeyword.isPasswordKeyword("PasswordAuthentication"))
        #expect(ProfileKeyword.isPasswordKeyword("password"))
    }

    @Test func unreadableProfileIsReported() throws {
        let world = try ProfileTestWorld()
        let path = try world.profile("p", "Port 22")
        chmod(path, 0)
        defer { chmod(path, 0o644) }
        guard getuid() != 0 else {
            // root reads every file: check invalid UTF-8 instead, which is unreadable for everyone (named by line).
            try Data([0x50, 0x6f, 0x72, 0x74, 0x20, 0xff, 0xfe]).write(to: URL(fileURLWithPath: path))
            let error = try #require(throws: ProfileError.self) { try world.resolve("p") }
            #expect(error.description == "~/.config/ftptunnel/profiles/p.conf:1: this line is not UTF-8 text (a binary file?) — save the file as UTF-8 text, or delete that line")
            return
        }
        let error = try #require(throws: ProfileError.self) { try world.resolve("p") }
        #expect(error.description.hasPrefix("~/.config/ftptunnel/profiles/p.conf cannot be read (Permission denied)"))
    }
}
