import Foundation
import Testing
@testable import TunnelCore

/// ~/.ssh/config merge: Host matching on the alias, first value wins, Include followed (Match: ProfileMatchTests).
@Suite struct ProfileSSHConfigTests {
    @Test func firstObtainedValueWinsAcrossBlocks() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig(
            "ServerAliveInterval 5",          // 1: before any Host: applies to all
            "Host prod prod2",                // 2
            "  HostName 10.0.0.5",            // 3
            "  User deploy",                  // 4
            "  Port 2200",                    // 5
            "  IdentityFile ~/.ssh/prod_%r",  // 6
            "Host *",                         // 7
            "  User everyone",                // 8
            "  IdentityFile ~/.ssh/id_all",   // 9
            "  IdentitiesOnly yes",           // 10
            "  StrictHostKeyChecking accept-new", // 11
            "  UserKnownHostsFile ~/.ssh/kh1 ~/.ssh/kh2", // 12
            "  ServerAliveInterval 99",       // 13
            "  ServerAliveCountMax 9",        // 14
            "  ConnectTimeout 12",            // 15
            "  Ciphers aes128-ctr",           // 16
            "  MACs hmac-sha2-512",           // 17
            "  KexAlgorithms curve25519-sha256", // 18
            "  HostKeyAlgorithms ssh-ed25519")   // 19
        let r = try world.resolve("prod")
        let s = r.settings
        let h = world.home
        #expect(s.sshHost == "10.0.0.5" && s.user == "deploy" && s.sshPort == 2200)
        #expect(s.identityFiles == ["\(h)/.ssh/prod_deploy", "\(h)/.ssh/id_all"])
        #expect(s.identitiesOnly && s.strictHostKeyChecking == .acceptNew)
        #expect(s.knownHostsFiles == ["\(h)/.ssh/kh1", "\(h)/.ssh/kh2"])
        #expect(s.serverAliveInterval == 5 && s.serverAliveCountMax == 9 && s.connectTimeout == 12)
        #expect(s.ciphers == ["aes128-ctr"] && s.macs == ["hmac-sha2-512"] && s.kexAlgorithms == ["curve25519-sha256"])
        #expect(s.hostKeyAlgorithms == ["ssh-ed25519"])
        #expect(r.sources["HostName"] == "~/.ssh/config:3" && r.sources["ServerAliveInterval"] == "~/.ssh/config:1")
        #expect(r.sources["IdentityFile"] == "~/.ssh/config:6, ~/.ssh/config:9")

        let other = try world.resolve("web").settings
        #expect(other.sshHost == "web" && other.user == "everyone" && other.sshPort == 22)
    }

    @Test func matchingUsesTheAliasNotTheHostName() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("Host prod", "  HostName 10.0.0.5", "Host 10.0.0.5", "  User wrong")
        #expect(try world.resolve("prod").settings.user == "tester")
    }

    @Test func hostNameTokenAndCaseInsensitivePatterns() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("HOST *.corp !bad.corp", "  hostname %h.example.com", "  USER=corp")
        let r = try world.resolve("db.corp")
        #expect(r.settings.sshHost == "db.corp.example.com" && r.settings.user == "corp")
        #expect(try world.resolve("bad.corp").settings.sshHost == "bad.corp")
    }

    @Test func unusedKeywordsAreIgnoredAndListenerSettingsNeverComeFromSSHConfig() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("Host *", "  ForwardAgent yes", "  SendEnv LANG LC_*", "  ControlMaster auto",
                            "  BindAddress 192.0.2.1", "  GatewayPorts yes", "  LocalForward 8080 x:80",
                            "  FTPPort 99", "  Mode fixed", "  Password ignored-here", "  Ciphers +aes128-cbc")
        let r = try world.resolve("anything")
        let s = r.settings
        #expect(s.bindAddress == "127.0.0.1" && s.ftpPort == 21 && s.mode == .rewrite && s.ciphers == nil)
        #expect(r.notes == ["~/.ssh/config:11: Ciphers edits OpenSSH's default list; ignored, libssh2's defaults apply"])
    }

    @Test func badValueInAMatchingBlockNamesTheLine() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("Host other", "  Port notaport", "Host prod", "  StrictHostKeyChecking sometimes")
        #expect(try world.resolve("other2").settings.sshPort == 22)
        let error = try #require(throws: ProfileError.self) { try world.resolve("prod") }
        #expect(error.description.hasPrefix("~/.ssh/config:4: StrictHostKeyChecking: 'sometimes' is not a host key policy"))
    }

    @Test func includeIsFollowedRelativeToDotSSHOnlyInMatchingBlocks() throws {
        let world = try ProfileTestWorld()
        try world.directory.write(".ssh/config.d/10-prod.conf", "Host prod\n  User included\n  Port 2201\n")
        try world.directory.write(".ssh/config.d/20-all.conf", "Host *\n  ConnectTimeout 4\n")
        try world.directory.write(".ssh/only-web", "User webuser\n")
        try world.sshConfig("Include config.d/*.conf", "Host web", "  Include only-web", "Host *", "  User fallback")
        let prod = try world.resolve("prod")
        #expect(prod.settings.user == "included" && prod.settings.sshPort == 2201 && prod.settings.connectTimeout == 4)
        #expect(prod.sources["User"] == "~/.ssh/config.d/10-prod.conf:2")
        #expect(try world.resolve("web").settings.user == "webuser")
        #expect(try world.resolve("db").settings.user == "fallback")
    }

    @Test func includeLoopIsAnError() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("Include config")
        let error = try #require(throws: ProfileError.self) { try world.resolve("x") }
        #expect(error.description.contains("Include nests deeper than 16 files — remove the Include loop"))
    }

    @Test func profileHostNameIsTheAliasLookedUpInSSHConfig() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("Host prod", "  HostName 10.0.0.5", "  User bob", "  IdentityFile ~/.ssh/prod", "Host site", "  User never")
        try world.profile("site", "HostName prod", "FTPHost popeye")
        let r = try world.resolve("site")
        #expect(r.settings.sshHost == "10.0.0.5" && r.settings.user == "bob" && r.settings.ftpHost == "popeye")
        #expect(r.settings.identityFiles == ["\(world.home)/.ssh/prod"])
        #expect(r.hostAlias == "prod")
        #expect(r.notes.contains { $0.contains("HostName prod is an ~/.ssh/config alias; connecting to 10.0.0.5") })
        // A profile without HostName is matched by its name.
        try world.profile("site", "FTPHost popeye")
        #expect(try world.resolve("site").settings.user == "never")
        // -o HostName replaces the host but not the alias matched.
        let o = try world.resolve("site") { $0.options = ["HostName=192.0.2.7"] }
        #expect(o.settings.sshHost == "192.0.2.7" && o.settings.user == "never")
    }

    @Test func sshConfigPathOverrideAndNone() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("Host *", "  User fromdefault")
        let alternative = try world.directory.write("alt_config", "Host *\n  User fromalt\n")
        #expect(try world.resolve("h").settings.user == "fromdefault")
        world.extraEnvironment[SettingsResolver.sshConfigEnvironmentKey] = alternative
        #expect(try world.resolve("h").settings.user == "fromalt")
        world.extraEnvironment[SettingsResolver.sshConfigEnvironmentKey] = "none"
        #expect(try world.resolve("h").settings.user == "tester")
        world.extraEnvironment[SettingsResolver.sshConfigEnvironmentKey] = world.directory.file("missing")
        #expect(try world.resolve("h").settings.user == "tester")
    }
}
