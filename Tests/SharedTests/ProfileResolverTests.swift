import Foundation
import Testing
@testable import FTPCore
@testable import TunnelCore

/// Precedence: command line (options, then DEST parts, then -o) > profile > ~/.ssh/config > defaults.
@Suite struct ProfileResolverTests {
    private let profileFile = "~/.config/ftptunnel/profiles/site.conf"

    /// Port and User set in all four layers; each layer removed in turn reveals the next one.
    @Test func precedenceAcrossAllLayers() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("Host site", "  Port 1001", "  User ssh-user", "  ServerAliveInterval 11")
        try world.profile("site", "Port 2002", "User profile-user", "ServerAliveInterval 22")

        var r = try world.resolve("site") {
            $0.port = 4004
            $0.user = "cli-user"
            $0.options = ["Port=3003", "User=o-user", "ServerAliveInterval=33"]
        }
        #expect(r.settings.sshPort == 4004 && r.settings.user == "cli-user" && r.settings.serverAliveInterval == 33)
        #expect(r.sources["Port"] == "command line (-p)")
        #expect(r.sources["User"] == "command line (-l)")
        #expect(r.sources["ServerAliveInterval"] == "-o")

        r = try world.resolve("site") { $0.options = ["Port=3003", "User o-user"] }
        #expect(r.settings.sshPort == 3003 && r.settings.user == "o-user" && r.settings.serverAliveInterval == 22)
        #expect(r.sources["Port"] == "-o")
        #expect(r.sources["ServerAliveInterval"] == "\(profileFile):3")

        r = try world.resolve("site")
        #expect(r.settings.sshPort == 2002 && r.settings.user == "profile-user")
        #expect(r.sources["Port"] == "\(profileFile):1")

        try world.profile("site", "FTPPort 21")
        r = try world.resolve("site")
        #expect(r.settings.sshPort == 1001 && r.settings.user == "ssh-user" && r.settings.serverAliveInterval == 11)
        #expect(r.sources["Port"] == "~/.ssh/config:2")
        #expect(r.sources["User"] == "~/.ssh/config:3")

        try world.sshConfig("Host other", "  Port 1001")
        r = try world.resolve("site")
        #expect(r.settings.sshPort == 22 && r.settings.user == "tester" && r.settings.serverAliveInterval == TunnelSettings.defaultServerAliveInterval)
        #expect(r.sources["Port"] == "default")
    }

    @Test func everyDedicatedOptionOverridesTheProfile() throws {
        let world = try ProfileTestWorld()
        try world.profile("site", "HostName h", "User u", "Port 1", "IdentityFile /p", "FTPHost f", "FTPPort 2", "LocalPort 3",
                          "PassivePorts 10-20", "Mode fixed", "UserKnownHostsFile /kh")
        let r = try world.resolve("site") {
            $0.user = "U"; $0.port = 11; $0.identityFiles = ["/c1", "~/c2"]; $0.ftpHost = "F"; $0.ftpPort = 22
            $0.localPort = 33; $0.passivePorts = "100-200"; $0.mode = "rewrite"; $0.knownHostsFile = "~/KH"
        }
        let s = r.settings
        #expect(s.user == "U" && s.sshPort == 11 && s.ftpHost == "F" && s.ftpPort == 22 && s.localPort == 33)
        #expect(s.passivePorts == PortRange(lower: 100, upper: 200) && s.mode == .rewrite)
        #expect(s.knownHostsFiles == ["\(world.home)/KH"])
        // Identities accumulate, command line first (as OpenSSH).
        #expect(s.identityFiles == ["/c1", "\(world.home)/c2", "/p"])
        #expect(r.sources["IdentityFile"] == "command line (-i), command line (-i), \(profileFile):4")
        let expected = ["User": "-l", "Port": "-p", "FTPHost": "--ftp-host", "FTPPort": "--ftp-port", "LocalPort": "--local-port",
                        "PassivePorts": "--passive-ports", "Mode": "--mode", "UserKnownHostsFile": "--known-hosts"]
        for (keyword, option) in expected { #expect(r.sources[keyword] == "command line (\(option))") }
    }

    @Test func dedicatedOptionsBeatDestinationPartsWhichBeatOptionsAndProfile() throws {
        let world = try ProfileTestWorld()
        try world.profile("site", "User p", "Port 1")
        var r = try world.resolve("alice@site:2222") { $0.options = ["User=o", "Port=3"] }
        #expect(r.settings.user == "alice" && r.settings.sshPort == 2222)
        #expect(r.sources["User"] == "command line (DEST)" && r.sources["Port"] == "command line (DEST)")
        #expect(r.profilePath?.hasSuffix("/site.conf") == true)
        r = try world.resolve("alice@site:2222") { $0.user = "bob"; $0.port = 4 }
        #expect(r.settings.user == "bob" && r.settings.sshPort == 4)
    }

    @Test func dedicatedOptionValuesAreValidatedNamingTheOption() throws {
        let world = try ProfileTestWorld()
        let cases: [((inout SettingOverrides) -> Void, String)] = [
            ({ $0.port = 0 }, "-p 0: Port: '0' is not a port number"),
            ({ $0.ftpPort = 70000 }, "--ftp-port 70000: FTPPort: '70000' is not a port number"),
            ({ $0.localPort = -1 }, "--local-port -1: LocalPort: '-1' is not a port number"),
            ({ $0.passivePorts = "9-1" }, "--passive-ports 9-1: PassivePorts: '9-1' is not a port range"),
            ({ $0.mode = "fast" }, "--mode fast: Mode: 'fast' is not one of fixed, rewrite"),
            ({ $0.user = "a b" }, "-l a b: User: 'a b' is not a user name"),
            ({ $0.ftpHost = "" }, "--ftp-host : FTPHost: '' is not a host name"),
            ({ $0.identityFiles = ["~/%q"] }, "-i ~/%q: IdentityFile: '~/%q' contains the unknown token %q"),
        ]
        for (configure, expected) in cases {
            let error = try #require(throws: ProfileError.self) { try world.resolve("host", configure) }
            #expect(error.description.hasPrefix(expected), "\(error)")
        }
    }

    @Test func extraOptionsAreValidatedWithTheSameRulesNamingDashO() throws {
        let world = try ProfileTestWorld()
        let cases: [([String], String)] = [
            (["DataWindow=5"], "-o DataWindow=5: DataWindow: '5' is outside 64K…1G"),
            (["Prot=22"], "-o Prot=22: Prot: unknown keyword — did you mean Port?"),
            (["Password=x"], "-o Password=x: Password: passwords are never read from profiles or the command line"),
            (["Host=x"], "-o Host=x: Host: not allowed here"),
            (["Port"], "-o Port: Port: no value given"),
            ([""], "-o : no keyword given — write -o Keyword=Value"),
            (["Port=1", "Port=2"], "-o Port=2: Port: '2' contradicts the value already given at -o Port=1"),
            (["Mode=sideways"], "-o Mode=sideways: Mode: 'sideways' is not one of fixed, rewrite"),
            (["Sessions=99"], "-o Sessions=99: Sessions: '99' is not a whole number from 1 to 16"),
            (["PassiveHost=maybe"], "-o PassiveHost=maybe: PassiveHost: 'maybe' is not one of ignore, server"),
        ]
        for (options, expected) in cases {
            let error = try world.optionError(options)
            #expect(error.description.hasPrefix(expected), "\(error)")
        }
    }

    @Test func extraOptionsAcceptBothSpellingsAndEveryKeyword() throws {
        let world = try ProfileTestWorld()
        let r = try world.resolve("host") {
            $0.options = ["DataWindow 32M", "sessions=2", "PassiveHost=server", "HostName=10.9.8.7", "Port=1", "Port=1",
                          "BindAddress=0.0.0.0", "IdentityFile=/k1", "IdentityFile=/k2", "StrictHostKeyChecking=off"]
        }
        let s = r.settings
        #expect(s.dataWindow == 32 << 20 && s.sessions == 2 && s.passiveHost == .server && s.sshHost == "10.9.8.7")
        #expect(s.bindAddress == "0.0.0.0" && s.identityFiles == ["/k1", "/k2"] && s.strictHostKeyChecking == TunnelSettings.HostKeyPolicy.no)
        #expect(r.sources["HostName"] == "-o" && r.sources["PassiveHost"] == "-o")
    }

    @Test func profileByNameByPathAndXDG() throws {
        let world = try ProfileTestWorld()
        try world.profile("site", "HostName from-default-dir")
        #expect(try world.resolve("site").settings.sshHost == "from-default-dir")

        let other = try world.directory.write("elsewhere/x.conf", "HostName from-file\n")
        let r = try world.resolve("whatever") { $0.profilePath = other }
        #expect(r.settings.sshHost == "from-file" && r.profilePath == other)
        // --profile without HostName: DEST's host is the host.
        let bare = try world.directory.write("elsewhere/bare.conf", "FTPPort 2121\n")
        #expect(try world.resolve("me@host.example:2200") { $0.profilePath = bare }.settings.sshHost == "host.example")
        #expect(try world.resolve("x") { $0.profilePath = "~/elsewhere/x.conf" }.settings.sshHost == "from-file")

        let missing = try #require(throws: ProfileError.self) { try world.resolve("x") { $0.profilePath = "~/nope.conf" } }
        #expect(missing.description.hasPrefix("profile ~/nope.conf does not exist — "))

        try world.directory.write("xdg/ftptunnel/profiles/site.conf", "HostName from-xdg\n")
        world.extraEnvironment["XDG_CONFIG_HOME"] = world.directory.file("xdg")
        #expect(try world.resolve("site").settings.sshHost == "from-xdg")
        world.extraEnvironment["XDG_CONFIG_HOME"] = "relative/ignored"
        #expect(try world.resolve("site").settings.sshHost == "from-default-dir")
    }

    @Test func nameWithoutProfileIsAHost() throws {
        let world = try ProfileTestWorld()
        let r = try world.resolve("nosuchprofile")
        #expect(r.settings.sshHost == "nosuchprofile" && r.profilePath == nil)
        #expect(try world.resolve("[::1]:2222").settings.sshHost == "::1")
    }

    @Test func listingNamesOnlyConfFiles() throws {
        let world = try ProfileTestWorld()
        try world.profile("b")
        try world.profile("a")
        try world.directory.write(".config/ftptunnel/profiles/notes.txt", "x")
        try world.directory.write(".config/ftptunnel/profiles/.hidden.conf", "x")
        #expect(ProfileStore(environment: world.environment).names() == ["a", "b"])
        #expect(ProfileStore(environment: ["HOME": "/nonexistent"]).names().isEmpty)
        #expect(ProfileStore.isValidName("my-site_2.prod") && !ProfileStore.isValidName(".x") && !ProfileStore.isValidName("a/b"))
    }
}
