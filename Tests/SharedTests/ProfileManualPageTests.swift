import Foundation
import Testing
@testable import TunnelCore

/// ftptunnel.conf(5) and profiles/README.md's keyword table come from the keyword table the parser uses.
@Suite struct ProfileManualPageTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let page = ProfileManualPage.roff(version: "9.8.7", date: "2026-01-02")

    @Test func everyKeywordHasAnEntryWithValuesAndDefault() throws {
        let lines = page.split(separator: "\n").map(String.init)
        for keyword in ProfileKeyword.allCases {
            let entry = try #require(lines.firstIndex(of: ".B \(Roff.escaped(keyword.rawValue))"), "\(keyword)")
            #expect(lines[entry - 1] == ".TP")
            #expect(lines[entry + 1] == Roff.escapedLine(keyword.valueDescription + "."))
            #expect(lines[entry + 3].hasPrefix("Default: "), "\(keyword)")
        }
    }

    @Test func keywordsAreInTheirSection() throws {
        let ssh = try #require(page.range(of: ".SH \"SSH CONNECTION\""))
        let tunnel = try #require(page.range(of: ".SH \"FTP AND LOCAL SIDE\""))
        let precedence = try #require(page.range(of: ".SH \"PRECEDENCE\""))
        for keyword in ProfileKeyword.allCases {
            let entry = try #require(page.range(of: "\n.B \(Roff.escaped(keyword.rawValue))\n"))
            if keyword.readFromSSHConfig {
                #expect(entry.lowerBound > ssh.upperBound && entry.lowerBound < tunnel.lowerBound, "\(keyword)")
            } else {
                #expect(entry.lowerBound > tunnel.upperBound && entry.lowerBound < precedence.lowerBound, "\(keyword)")
            }
        }
    }

    /// The defaults shown are the values an empty profile resolves to.
    @Test func defaultsAreTheResolvedDefaults() {
        let settings = TunnelSettings(sshHost: "h", user: "u")
        #expect(ProfileKeyword.port.defaultDescription == "\(settings.sshPort)")
        #expect(ProfileKeyword.ftpPort.defaultDescription == "\(settings.ftpPort)")
        #expect(ProfileKeyword.mode.defaultDescription == "rewrite")
        #expect(ProfileKeyword.dataWindow.defaultDescription == "auto")
        #expect(ProfileKeyword.dataWindowMax.defaultDescription == "128M")
        #expect(ProfileKeyword.serverAliveCountMax.defaultDescription == "3")
        #expect(ProfileKeyword.bindAddress.defaultDescription == "127.0.0.1")
    }

    @Test func headerCarriesVersionAndDate() {
        #expect(page.hasPrefix(".TH FTPTUNNEL.CONF 5 \"2026-01-02\" \"ftptunnel 9.8.7\" \"File Formats Manual\"\n"))
    }

    @Test func textIsEscapedForRoff() {
        #expect(Roff.escaped("a\\b") == "a\\eb")
        #expect(Roff.escaped("accept-new") == "accept\\-new")
        #expect(Roff.escaped("×—") == "\\[u00D7]\\[u2014]")
        #expect(Roff.escapedLine(".starts with a dot") == "\\&.starts with a dot")
        #expect(Roff.escapedLine("`Mode sftp` only") == "\\fBMode sftp\\fR only")
        for line in page.split(separator: "\n") {
            let ascii = line.unicodeScalars.allSatisfy { $0.isASCII }
            #expect(ascii, "\(line)")
            #expect(!line.isEmpty)
        }
    }

    /// profiles/README.md shows the same table (regenerate with `.build/debug/profile-manual --markdown`).
    @Test func readmeTableIsTheGeneratedOne() throws {
        let readme = try String(contentsOf: Self.repository.appendingPathComponent("profiles/README.md"), encoding: .utf8)
        #expect(readme.contains(ProfileManualPage.markdownTable()), "profiles/README.md's keyword table differs from ProfileManualPage.markdownTable()")
    }
}
