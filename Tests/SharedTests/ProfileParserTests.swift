import Foundation
import Testing
@testable import TunnelCore

@Suite struct ProfileParserTests {
    private func parse(_ text: String) throws -> [ConfigEntry] { try ConfigLineParser.parse(text, file: "t.conf") }

    @Test(arguments: ["Port 22", "Port=22", "Port = 22", "Port =22", "Port= 22", "  Port\t22", "\tPort  =  22  "])
    func keywordValueForms(_ line: String) throws {
        #expect(try parse(line) == [ConfigEntry(keyword: "Port", arguments: ["22"], line: 1)])
    }

    @Test func keywordKeepsItsSpellingAndLookupIgnoresCase() throws {
        let entries = try parse("hOsTnAmE example.com\nFTPPORT 21\nftphost x")
        #expect(entries.map(\.keyword) == ["hOsTnAmE", "FTPPORT", "ftphost"])
        #expect(entries.map { ProfileKeyword.named($0.keyword) } == [.hostName, .ftpPort, .ftpHost])
    }

    @Test func commentsAndBlankLinesAreSkippedAndLineNumbersKept() throws {
        let text = "# a comment\n\n   \n\tPort 22 # trailing comment\n  # indented comment\nUser a#b\nFTPHost '#quoted'\n"
        let entries = try parse(text)
        #expect(entries == [
            ConfigEntry(keyword: "Port", arguments: ["22"], line: 4),
            ConfigEntry(keyword: "User", arguments: ["a#b"], line: 6),
            ConfigEntry(keyword: "FTPHost", arguments: ["#quoted"], line: 7),
        ])
    }

    @Test func quotedValuesKeepSpaces() throws {
        let entries = try parse("IdentityFile \"~/my keys/id ed\"\nIdentityFile '/a b'\nUserKnownHostsFile a \"b c\" d\nX pre\"fix and\"post")
        #expect(entries.map(\.arguments) == [["~/my keys/id ed"], ["/a b"], ["a", "b c", "d"], ["prefix andpost"]])
    }

    @Test func emptyQuotedValueIsAnEmptyWord() throws {
        #expect(try parse("User \"\"").first?.arguments == [""])
    }

    @Test func crlfCrAndBomAreTolerated() throws {
        let entries = try parse("\u{FEFF}Port 22\r\nUser me\r\n\r\nMode fixed\rFTPPort 21")
        #expect(entries.map(\.keyword) == ["Port", "User", "Mode", "FTPPort"])
        #expect(entries.map(\.line) == [1, 2, 4, 5])
        #expect(entries.map(\.arguments) == [["22"], ["me"], ["fixed"], ["21"]])
    }

    @Test func keywordWithoutValueHasNoArguments() throws {
        #expect(try parse("Port\nUser =").map(\.arguments) == [[], []])
    }

    @Test func unterminatedQuoteNamesTheLine() throws {
        #expect(throws: ProfileError.syntax(at: .file("t.conf", line: 3), problem: "a \" quote is not closed",
                                            hint: "end the quoted value with \" on the same line")) {
            try parse("Port 22\n\nIdentityFile \"/a b\n")
        }
        let error = try #require(throws: ProfileError.self) { try parse("User 'x") }
        #expect(error.description.hasPrefix("t.conf:1: a ' quote is not closed — "))
    }

    @Test func lineStartingWithEqualsIsAnError() throws {
        let error = try #require(throws: ProfileError.self) { try parse("Port 22\n= 5") }
        #expect(error.description.hasPrefix("t.conf:2: a line starts with '=' but has no keyword — "))
    }

    @Test func dripFedLinesGiveTheSameEntriesAsTheWholeText() throws {
        let text = "HostName h\nPort=2\n# c\nIdentityFile \"a b\" # x\n"
        let whole = try parse(text)
        var lines: [ConfigEntry] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if let e = try ConfigLineParser.parseLine(line, line: n + 1, at: .file("t.conf", line: n + 1)) { lines.append(e) }
        }
        #expect(whole == lines)
    }
}

@Suite struct ProfileHostPatternTests {
    @Test(arguments: [
        (["*"], "anything", true),
        (["*.example.com"], "ftp.example.com", true),
        (["*.example.com"], "example.com", false),
        (["web?"], "web1", true),
        (["web?"], "web12", false),
        (["a", "b", "c"], "b", true),
        (["!bad", "*"], "bad", false),
        (["!bad", "*"], "good", true),
        (["*", "!bad"], "bad", false),
        (["!bad"], "good", false),
        (["PROD"], "prod", true),
        (["p*d*"], "production", true),
        (["*a*b"], "xaxxb", true),
        (["*a*b"], "xaxxbc", false),
        ([], "x", false),
    ])
    func matches(_ patterns: [String], _ host: String, _ expected: Bool) {
        #expect(HostPatternList(patterns: patterns).matches(host) == expected)
    }
}

@Suite struct ProfileDestinationTests {
    @Test func parsesForms() throws {
        func d(_ s: String) throws -> (String?, String, Int?) {
            let x = try Destination(parsing: s)
            return (x.user, x.host, x.port)
        }
        #expect(try d("host") == (nil, "host", nil))
        #expect(try d("alice@host") == ("alice", "host", nil))
        #expect(try d("alice@host:2222") == ("alice", "host", 2222))
        #expect(try d("host:2222") == (nil, "host", 2222))
        #expect(try d("[::1]:2222") == (nil, "::1", 2222))
        #expect(try d("bob@[fe80::1]") == ("bob", "fe80::1", nil))
        #expect(try d("::1") == (nil, "::1", nil))
        #expect(try d("a@b@host") == ("a@b", "host", nil))
    }

    @Test(arguments: ["", "@host", "host:0", "host:99999", "host:abc", "host:", "[::1", "[::1]x", "[::1]:", "a b", "user@", "[]"])
    func rejectsMalformed(_ text: String) throws {
        let error = try #require(throws: ProfileError.self) { try Destination(parsing: text) }
        #expect(error.description.hasPrefix("destination '\(text)' "))
        #expect(error.description.contains(" — give a profile name"))
    }

    @Test func onlyBareNamesMayNameAProfile() throws {
        #expect(try Destination(parsing: "demo").mayNameProfile)
        #expect(try Destination(parsing: "me@demo:22").mayNameProfile)
        #expect(try !Destination(parsing: "[demo]").mayNameProfile)
        #expect(try !Destination(parsing: "::1").mayNameProfile)
    }
}
