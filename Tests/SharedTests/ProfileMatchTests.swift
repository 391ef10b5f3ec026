import Foundation
import Testing
@testable import TunnelCore

/// `Match` blocks of ~/.ssh/config are evaluated as OpenSSH does (all, host, originalhost, user, localuser, exec,
/// `!`), and whatever ftptunnel cannot evaluate or implement, where it would decide the path, stops with FILE:LINE.
@Suite struct ProfileMatchTests {
    @Test func matchHostSeesHostNameSetEarlierAndOriginalHostTheTypedName() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig(
            "Host prod", "  HostName 10.0.0.5",
            "Match host 10.0.0.*", "  Port 2200",
            "Match originalhost prod", "  User deploy",
            "Match host prod", "  ConnectTimeout 9")
        let s = try world.resolve("prod").settings
        #expect(s.sshHost == "10.0.0.5" && s.sshPort == 2200 && s.user == "deploy")
        #expect(s.connectTimeout == nil, "host is 10.0.0.5 once HostName is set, so 'Match host prod' must not apply")
    }

    @Test func matchUserUsesTheCommandLineUserElseTheLocalOne() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("Match user admin", "  Port 2201", "Match localuser tester", "  ConnectTimeout 4",
                            "Match !user admin", "  ServerAliveInterval 7")
        let asAdmin = try world.resolve("admin@host").settings
        #expect(asAdmin.sshPort == 2201 && asAdmin.connectTimeout == 4
                && asAdmin.serverAliveInterval == TunnelSettings.defaultServerAliveInterval)
        let asMe = try world.resolve("host").settings
        #expect(asMe.sshPort == 22 && asMe.connectTimeout == 4 && asMe.serverAliveInterval == 7)
    }

    @Test func matchExecRunsTheCommandWithTokensAndAllMatches() throws {
        let world = try ProfileTestWorld()
        let marker = world.directory.file("exec-ran")
        try world.sshConfig(
            "Match exec \"test %h = web && touch \(marker)\"", "  Port 2202",
            "Match host other exec \"touch \(marker)-never\"", "  User never",
            "Match exec false", "  User nobody-here",
            "Match all", "  ConnectTimeout 3")
        let s = try world.resolve("web").settings
        #expect(s.sshPort == 2202 && s.user == "tester" && s.connectTimeout == 3)
        #expect(FileManager.default.fileExists(atPath: marker))
        #expect(!FileManager.default.fileExists(atPath: marker + "-never"), "exec must not run once an earlier criterion failed")
    }

    @Test(arguments: ["Match canonical", "Match final", "Match localnetwork 10.0.0.0/8", "Match tagged x",
                      "Match hots prod", "Match", "Match host", "Match all host x"])
    func unsupportedOrMalformedCriteriaNameTheLine(_ line: String) throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("Host *", "  Port 22", line, "  User x")
        let error = try #require(throws: ProfileError.self) { try world.resolve("prod") }
        #expect(error.description.hasPrefix("~/.ssh/config:3: "), "\(error)")
        #expect(error.description.contains("Match"), "\(error)")
    }

    @Test(arguments: ["HostKeyAlias other", "ProxyUseFdpass yes", "CanonicalizeHostname yes", "KnownHostsCommand /bin/x",
                      "PKCS11Provider /usr/lib/p11.so"])
    func aKeywordThatWouldChangeThePathStopsWithItsLine(_ line: String) throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("Host prod", "  " + line, "Host other", "  " + line)
        let error = try #require(throws: ProfileError.self) { try world.resolve("prod") }
        let keyword = String(line.split(separator: " ")[0])
        #expect(error.description.hasPrefix("~/.ssh/config:2: \(keyword) decides where or as whom ssh connects"), "\(error)")
        #expect(try world.resolve("elsewhere").settings.sshHost == "elsewhere", "a block that does not apply is no error")
    }

    @Test func harmlessValuesOfThoseKeywordsAreAccepted() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("Host *", "  CanonicalizeHostname no", "  ProxyUseFdpass no", "  PKCS11Provider none")
        #expect(try world.resolve("prod").settings.sshHost == "prod")
    }
}
