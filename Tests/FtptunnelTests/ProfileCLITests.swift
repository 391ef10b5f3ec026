import Foundation
import Testing
import TestSupport

/// `ftptunnel show` and `ftptunnel profiles` as a user runs them: the built binary, a private HOME and
/// XDG_CONFIG_HOME, checking stdout, stderr and the exit status.
@Suite struct ProfileCLITests {
    /// A private HOME (with ~/.ssh/config) and a separate XDG_CONFIG_HOME holding the profiles.
    final class World {
        let home: TempDirectory
        let xdg: TempDirectory
        init() throws {
            home = try TempDirectory("cli-home")
            xdg = try TempDirectory("cli-xdg")
        }
        var environment: [String: String] {
            ["HOME": home.path, "XDG_CONFIG_HOME": xdg.path, "USER": "tester", "PATH": "/usr/bin:/bin"]
        }
        @discardableResult
        func profile(_ name: String, _ text: String) throws -> String { try xdg.write("ftptunnel/profiles/\(name).conf", text) }
        func run(_ arguments: [String]) throws -> CommandResult {
            try runCommand(try Products.ftptunnel, arguments, seconds: 30, environment: environment)
        }
    }

    /// The line of `show` output for a keyword, split into value and source.
    private func line(_ keyword: String, in output: String) -> (value: String, source: String)? {
        for line in output.split(separator: "\n") {
            let words = line.split(separator: " ", maxSplits: 1)
            guard words.first.map(String.init) == keyword, words.count == 2 else { continue }
            let parts = words[1].components(separatedBy: "  # ")
            guard parts.count == 2 else { continue }
            return (parts[0].trimmingCharacters(in: .whitespaces), parts[1])
        }
        return nil
    }

    @Test func showPrintsEveryResolvedKeywordWithItsSource() throws {
        let world = try World()
        try world.home.write(".ssh/config", "Host ftp-gw\n  User gateway\n  ServerAliveInterval 20\n")
        try world.profile("site", "# a site\nHostName ftp-gw\nPort 2200\nFTPHost popeye\nPassivePorts 2534-2536\nMode fixed\n")
        let result = try world.run(["show", "site", "--ftp-port", "2121", "-o", "DataWindow=32M", "-i", "~/.ssh/k"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stderr.isEmpty, "\(result.stderr)")
        let profile = "\(world.xdg.path)/ftptunnel/profiles/site.conf"
        let out = result.stdout
        #expect(out.hasPrefix("# ftptunnel show site\n# profile: \(profile)\n"))
        #expect(line("HostName", in: out)! == ("ftp-gw", "\(profile):2"))
        #expect(line("User", in: out)! == ("gateway", "~/.ssh/config:2"))
        #expect(line("Port", in: out)! == ("2200", "\(profile):3"))
        #expect(line("IdentityFile", in: out)! == ("\(world.home.path)/.ssh/k", "command line (-i)"))
        #expect(line("ServerAliveInterval", in: out)! == ("20", "~/.ssh/config:3"))
        #expect(line("FTPHost", in: out)! == ("popeye", "\(profile):4"))
        #expect(line("FTPPort", in: out)! == ("2121", "command line (--ftp-port)"))
        #expect(line("PassivePorts", in: out)! == ("2534-2536", "\(profile):5"))
        #expect(line("Mode", in: out)! == ("fixed", "\(profile):6"))
        #expect(line("DataWindow", in: out)! == ("32M", "-o"))
        #expect(line("Sessions", in: out)! == ("1", "default"))
        #expect(line("BindAddress", in: out)! == ("127.0.0.1", "default (loopback only)"))
        #expect(out.contains("#ConnectTimeout "))
    }

    @Test func showPrintsTheHopChainAndWhereEachHopComesFrom() throws {
        let world = try World()
        try world.home.write(".ssh/config", """
        Host site
          HostName 10.0.0.5
          ProxyJump bastion,ops@inner:2022
        Host bastion
          HostName 192.0.2.7
          User jump
          IdentityFile ~/.ssh/jump_key

        """)
        let result = try world.run(["show", "site"])
        #expect(result.status == 0, "\(result.output)")
        let out = result.stdout
        #expect(out.contains("# path: ftptunnel → jump@192.0.2.7:22 → ops@inner:2022 → tester@10.0.0.5:22\n"), "\(out)")
        #expect(out.contains("# hop 1 of 2: jump@192.0.2.7:22 (HostName from ~/.ssh/config:5; User from ~/.ssh/config:6; Port from default; IdentityFile from ~/.ssh/config:7)"), "\(out)")
        #expect(line("ProxyJump", in: out)! == ("bastion,ops@inner:2022", "~/.ssh/config:3"))

        let direct = try world.run(["show", "site", "-J", "none"])
        #expect(direct.stdout.contains("# path: ftptunnel → tester@10.0.0.5:22\n"), "\(direct.output)")
        let viaCommand = try world.run(["show", "plain", "-o", "ProxyCommand=ssh -W %h:%p gw"])
        #expect(viaCommand.stdout.contains("# path: ftptunnel → ProxyCommand ssh -W plain:22 gw → tester@plain:22\n"), "\(viaCommand.output)")
    }

    @Test func aPathDecidingKeywordFtptunnelLacksStopsConnectWithItsLine() throws {
        let world = try World()
        try world.home.write(".ssh/config", "Host site\n  HostKeyAlias other\n")
        let result = try world.run(["connect", "site"])
        #expect(result.status == 2, "\(result.output)")
        #expect(result.stderr.contains("~/.ssh/config:2: HostKeyAlias decides where or as whom ssh connects, and ftptunnel does not implement it"), "\(result.stderr)")
    }

    @Test func showOutputIsItselfAValidProfile() throws {
        let world = try World()
        try world.profile("site", "HostName h.example\nUser u\nMode fixed\nPassivePorts 40000-40001\nDataWindow 1M\n")
        let first = try world.run(["show", "site", "-o", "Sessions=3"])
        #expect(first.status == 0, "\(first.output)")
        let copy = try world.home.write("copy.conf", first.stdout)
        let second = try world.run(["show", "other", "--profile", copy])
        #expect(second.status == 0, "\(second.output)")
        for keyword in ["HostName", "User", "Port", "Mode", "PassivePorts", "DataWindow", "Sessions", "UserKnownHostsFile"] {
            #expect(line(keyword, in: second.stdout)?.value == line(keyword, in: first.stdout)?.value, "\(keyword)")
        }
    }

    /// ServerAlive is on out of the box (OpenSSH's 0 would never notice a hung server), and `show` says why; `0`
    /// from the profile turns it off.
    @Test func showStatesTheDefaultKeepaliveAndWhy() throws {
        let world = try World()
        let result = try world.run(["show", "alice@files.example"])
        #expect(result.status == 0, "\(result.output)")
        let interval = try #require(line("ServerAliveInterval", in: result.stdout), "\(result.stdout)")
        #expect(interval.value == "30")
        #expect(interval.source.hasPrefix("default (") && interval.source.contains("unlike OpenSSH")
                && interval.source.contains("hung server"), "\(interval.source)")
        #expect(line("ServerAliveCountMax", in: result.stdout)! == ("3", "default"))
        let help = try world.run(["connect", "--help"])
        #expect(help.stdout.contains("ServerAliveInterval=N (default 30"), "\(help.stdout)")
        let profile = try world.profile("quiet", "HostName h.example\nServerAliveInterval 0\n")
        let off = try world.run(["show", "quiet"])
        #expect(line("ServerAliveInterval", in: off.stdout)! == ("0", "\(profile):2"), "\(off.stdout)")
    }

    @Test func showStatesTheDefaultModeAndAcceptsPassiveHost() throws {
        let world = try World()
        let result = try world.run(["show", "alice@files.example:2222", "-o", "PassiveHost=server"])
        #expect(result.status == 0, "\(result.output)")
        #expect(line("Mode", in: result.stdout)! == ("rewrite", "default"))
        #expect(line("PassiveHost", in: result.stdout)! == ("server", "-o"))
        #expect(line("User", in: result.stdout)! == ("alice", "command line (DEST)"))
        #expect(line("Port", in: result.stdout)! == ("2222", "command line (DEST)"))
        #expect(result.stdout.contains("# profile: none\n"))
    }

    @Test func malformedProfileFailsNamingFileAndLine() throws {
        let world = try World()
        try world.profile("bad", "HostName h\n\nProt 22\n")
        let result = try world.run(["show", "bad"])
        #expect(result.status == 2, "the usage/config status, as connect")
        #expect(result.stdout.isEmpty)
        let message = "\(world.xdg.path)/ftptunnel/profiles/bad.conf:3: Prot: unknown keyword — did you mean Port?"
        #expect(result.stderr.contains(message), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "one sentence: \(result.stderr)")
    }

    @Test func badCommandLineValuesFailNamingTheOption() throws {
        let world = try World()
        let cases: [([String], String)] = [
            (["show", "h", "-o", "Password=secret"], "-o Password=secret: Password: passwords are never read"),
            (["show", "h", "-o", "DataWindow=1"], "-o DataWindow=1: DataWindow: '1' is outside 64K…1G"),
            (["show", "h", "--passive-ports", "9-1"], "--passive-ports 9-1: PassivePorts: '9-1' is not a port range"),
            (["show", "h", "--mode", "sideways"], "--mode sideways: Mode: 'sideways' is not one of fixed, rewrite"),
            (["show", "h:0"], "destination 'h:0' has a port that is not a number from 1 to 65535"),
            (["show", "h", "--profile", "/nonexistent/x.conf"], "profile /nonexistent/x.conf does not exist"),
        ]
        for (arguments, expected) in cases {
            let result = try world.run(arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr.contains(expected), "\(arguments): \(result.stderr)")
            #expect(!result.stdout.contains("HostName"))
        }
    }

    @Test func profilesListsEachSiteAndReportsBrokenOnesWithoutStopping() throws {
        let world = try World()
        try world.home.write(".ssh/config", "Host *\n  User fromssh\n")
        try world.profile("recipe", "HostName www.spinach.com\nFTPHost popeye\nFTPPort 21\nPassivePorts 2534-2536\nMode fixed\n")
        try world.profile("broken", "HostName x\nDataWindow 3T\n")
        try world.profile("zeta", "HostName ::1\nUser z\nPort 2022\n")
        let result = try world.run(["profiles"])
        #expect(result.status == 1, "\(result.output)")
        let rows = result.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        #expect(rows.count == 4)
        #expect(rows[0] == ["NAME", "SSH", "FTP", "(from", "the", "SSH", "server)", "MODE", "PASSIVE", "PORTS"])
        #expect(rows[1] == ["broken", "error", "(see", "below)"])
        #expect(rows[2] == ["recipe", "fromssh@www.spinach.com:22", "popeye:21", "fixed", "2534-2536"])
        #expect(rows[3] == ["zeta", "z@[::1]:2022", "127.0.0.1:21", "rewrite", "any"])
        #expect(result.stderr == "ftptunnel: error: \(world.xdg.path)/ftptunnel/profiles/broken.conf:2: DataWindow: '3T' is not a size — "
                + "write bytes or a number with K, M or G, e.g. 16M\n")
    }

    @Test func profilesWithNoProfilesSaysWhereToPutThem() throws {
        let world = try World()
        let result = try world.run(["profiles"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.stdout.contains("No profiles in \(world.xdg.path)/ftptunnel/profiles"))
        #expect(result.stderr.isEmpty)
    }

    @Test func connectAndRunHelpExplainServerAlive() throws {
        let world = try World()
        for command in ["connect", "run"] {
            let result = try world.run([command, "--help"])
            #expect(result.status == 0, "\(result.output)")
            let text = result.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(text.contains("ServerAliveInterval=N"), "\(text)")
            #expect(text.contains("ServerAliveCountMax=C (default 3)"), "\(text)")
            #expect(text.contains("N × (C + 1) s of silence"), "\(text)")
        }
    }

    /// `show` and `connect` report the same bad profile the same way: the error sentence and exit status 2.
    @Test func showAndConnectExitTwoForTheSameBadProfile() throws {
        let world = try World()
        try world.profile("bad", "HostName h.example\nPort seventy\n")
        let show = try world.run(["show", "bad"])
        let connect = try world.run(["connect", "bad"])
        #expect(show.status == 2, "\(show.stderr)")
        #expect(connect.status == 2, "\(connect.stderr)")
        #expect(show.stderr.contains("bad.conf:2: Port"), "\(show.stderr)")
        #expect(show.stderr == connect.stderr, "\(show.stderr)\n\(connect.stderr)")
    }

    /// A profile that is not text names the first line that is not (FILE:LINE), for show and connect alike.
    @Test func binaryProfileNamesTheLine() throws {
        let world = try World()
        let path = try world.profile("blob", "HostName h.example\n")
        try Data(Array("HostName h.example\nUser alice\n".utf8) + [0x7F, 0x45, 0x4C, 0x46, 0x02, 0x01, 0x00, 0xFF, 0xFE, 0x0A])
            .write(to: URL(fileURLWithPath: path))
        for command in ["show", "connect"] {
            let result = try world.run([command, "blob"])
            #expect(result.status == 2, "\(result.stderr)")
            #expect(result.stderr.contains("blob.conf:3: this line is not UTF-8 text"), "\(result.stderr)")
        }
    }

    /// Control bytes typed in -o values reach the terminal only as visible escapes.
    @Test func controlBytesFromOptionValuesAreEscaped() throws {
        let world = try World()
        let result = try world.run(["show", "h.example", "-o", "Port=1\u{1B}]0;pwned\u{07}\u{1B}[2J"])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(!result.stderr.contains("\u{1B}") && !result.stderr.contains("\u{07}"), "\(result.stderr.debugDescription)")
        #expect(result.stderr.contains("1\\033]0;pwned\\007\\033[2J"), "\(result.stderr.debugDescription)")
        // show prints values read from a profile: escaped on stdout as well.
        try world.profile("esc", "HostName h.example\nIdentityFile ~/key\u{1B}[2J\n")
        let shown = try world.run(["show", "esc"])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(!shown.stdout.contains("\u{1B}") && shown.stdout.contains("/key\\033[2J"), "\(shown.stdout.debugDescription)")
        // ArgumentParser's own usage errors quote the value too: escaped the same way, exit 2 like any bad option.
        let usage = try world.run(["connect", "h.example", "--local-port", "\u{1B}[2J"])
        #expect(usage.status == 2, "\(usage.stderr.debugDescription)")
        #expect(!usage.stderr.contains("\u{1B}"), "\(usage.stderr.debugDescription)")
        #expect(usage.stderr.contains("'\\033[2J' is invalid for '--local-port"), "\(usage.stderr.debugDescription)")
    }

    /// A huge User is refused up front, naming the option and the limit (OpenSSH-like: 256 bytes for a login name),
    /// from a profile line or the command line (which the kernel bounds at 128 KiB an argument).
    @Test func oversizedValuesAreRefusedNamingTheOption() throws {
        let world = try World()
        let huge = String(repeating: "u", count: 100_000)
        try world.profile("huge", "HostName h.example\nUser \(String(repeating: "u", count: 1_000_000))\n")
        let cases: [([String], String)] = [
            (["connect", "huge"], "huge.conf:2: User: 'uuuu"), (["connect", "h.example", "-o", "User=\(huge)"], "User: 'uuuu"),
            (["connect", "h.example", "-l", huge], "User: 'uuuu"),
        ]
        for (arguments, expected) in cases {
            let result = try world.run(arguments)
            #expect(result.status == 2, "\(result.stderr.prefix(300))")
            #expect(result.stderr.contains(expected), "\(result.stderr.prefix(300))")
            #expect(result.stderr.contains("bytes long, more than the 256 allowed"), "\(result.stderr.prefix(300))")
            #expect(result.stderr.utf8.count < 1000)
        }
        let fine = try world.run(["show", "h.example", "-o", "User=\(String(repeating: "u", count: 256))"])
        #expect(fine.status == 0, "\(fine.stderr)")
    }
}
