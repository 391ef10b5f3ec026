import Foundation
import ProgramSupport

/// ftptunnel.conf(5), and the keyword table of profiles/README.md, generated from `ProfileKeyword`'s reference
/// (the keyword table the parser uses), so the documentation cannot drift from what is accepted.
public enum ProfileManualPage {
    /// The page in man(7) roff. `date` is shown in the footer (`YYYY-MM-DD`).
    public static func roff(version: String = ProductVersion.current, date: String) -> String {
        var page = Roff()
        page.raw(".TH FTPTUNNEL.CONF 5 \"\(date)\" \"ftptunnel \(version)\" \"File Formats Manual\"")
        page.section("NAME")
        page.raw("ftptunnel.conf \\- ftptunnel site profiles")
        page.section("SYNOPSIS")
        page.raw(".I $XDG_CONFIG_HOME/ftptunnel/profiles/NAME.conf")
        page.raw(".br")
        page.raw(".I ~/.config/ftptunnel/profiles/NAME.conf")
        page.section("DESCRIPTION")
        for paragraph in description { page.paragraph(paragraph) }
        for section in ProfileKeyword.ManualSection.allCases {
            page.section(section.rawValue)
            page.paragraph(sectionIntroduction[section]!)
            for keyword in ProfileKeyword.allCases where keyword.manualSection == section {
                page.raw(".TP")
                page.raw(".B \(Roff.escaped(keyword.rawValue))")
                page.text(keyword.valueDescription + ".")
                page.raw(".br")
                page.text("Default: " + keyword.defaultDescription + ".")
            }
        }
        page.section("PRECEDENCE")
        page.paragraph("Values come from, highest first:")
        for (index, item) in precedence.enumerated() {
            page.raw(".IP \(index + 1). 4")
            page.text(item)
        }
        page.paragraph("`IdentityFile` accumulates over all sources, command line first, as in OpenSSH. "
            + "`ftptunnel show DEST` prints every resolved value and where it came from.")
        page.section("FILES")
        page.raw(".TP")
        page.raw(".I ~/.config/ftptunnel/profiles/NAME.conf")
        page.text("one site per file; `$XDG_CONFIG_HOME` replaces `~/.config` when set.")
        page.raw(".TP")
        page.raw(".I ~/.ssh/config")
        page.text("SSH keywords of the matching `Host` blocks (`FTPTUNNEL_SSH_CONFIG=PATH` reads another file, "
            + "`FTPTUNNEL_SSH_CONFIG=none` none).")
        page.section("EXAMPLE")
        page.raw(".RS 4")
        page.raw(".nf")
        for line in example { page.text(line) }
        page.raw(".fi")
        page.raw(".RE")
        page.section("SEE ALSO")
        page.raw(".BR ftptunnel (1),")
        page.raw(".BR pasvd (8),")
        page.raw(".BR ssh_config (5)")
        return page.text
    }

    /// The keyword table of profiles/README.md (GitHub markdown), the same text as the manual's.
    public static func markdownTable() -> String {
        var lines = ["| keyword | value | default |", "|---|---|---|"]
        for keyword in ProfileKeyword.allCases {
            lines.append("| `\(keyword.rawValue)` | \(keyword.valueDescription) | \(keyword.defaultDescription) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static let description = [
        "A profile describes one site for `ftptunnel connect NAME` (or any path with `--profile FILE`). "
            + "`ftptunnel profiles` lists them; `ftptunnel show NAME` prints every setting the tunnel would use and where it came from.",
        "The grammar is ssh_config's: `Keyword value` or `Keyword=value`, keywords case-insensitive, `#` starts a comment "
            + "(also after a value), blank lines ignored, values with spaces in double or single quotes, LF or CRLF line ends. "
            + "One site per file: `Host`, `Match` and `Include` are not allowed. A keyword may appear twice only with the same "
            + "value (`IdentityFile` may repeat).",
        "Passwords are never read from a profile (`Password`, `PasswordFile`… are refused): use ssh-agent or a key; "
            + "ftptunnel asks on the terminal when the server wants a password. Every problem is reported as "
            + "`FILE:LINE: KEYWORD: what is wrong \u{2014} what to do`.",
        "Listeners accept connections from other machines only when `BindAddress` or `GatewayPorts` in a profile or `-o` says so. "
            + "With `Mode sftp` any address other than loopback is an error.",
    ]

    static let sectionIntroduction: [ProfileKeyword.ManualSection: String] = [
        .ssh: "These keywords are also read from the matching `Host` and `Match` blocks of `~/.ssh/config`, with "
            + "OpenSSH's meaning. `Match` is evaluated for `all`, `host`, `originalhost`, `user`, `localuser` and `exec`; "
            + "another criterion, or a keyword that would decide where or as whom ssh connects and that ftptunnel does "
            + "not implement (`HostKeyAlias`, `ProxyUseFdpass`, `CanonicalizeHostname`, …), stops with FILE:LINE.",
        .tunnel: "ftptunnel's own keywords; never taken from `~/.ssh/config` (`BindAddress` and `GatewayPorts` mean "
            + "something else there).",
    ]

    static let precedence = [
        "command-line options (`-l`, `-p`, `-i`, `-J`, `--ftp-host`, …), then the `user@` and `:port` parts of DEST, then "
            + "`-o Keyword=Value` (validated like a profile line; errors name `-o`);",
        "the profile;",
        "the matching `Host` blocks of `~/.ssh/config` (only the keywords of SSH CONNECTION; the first value obtained wins);",
        "the defaults above.",
    ]

    static let example = [
        "HostName files.example.com",
        "User deploy",
        "FTPHost 127.0.0.1",
        "FTPPort 21",
        "LocalPort 2121",
        "ServerAliveInterval 30",
    ]
}

/// A small roff writer: escapes text (backslash, leading dot or quote, hyphens, non-ASCII as `\[uXXXX]`) and turns
/// `backticked` words bold.
struct Roff {
    private(set) var text = ""

    /// A paragraph macro right after a heading is redundant (and a lint warning).
    private var atSectionStart = false

    mutating func raw(_ line: String) {
        text += line + "\n"
        atSectionStart = line.hasPrefix(".SH")
    }
    mutating func section(_ name: String) { raw(".SH \(Roff.quoted(name))") }
    mutating func paragraph(_ content: String) {
        if !atSectionStart { raw(".PP") }
        self.text(content)
    }
    mutating func text(_ content: String) { raw(Roff.escapedLine(content)) }

    /// One text line: escaped, `backticked` words bold, a leading dot or quote made literal.
    static func escapedLine(_ content: String) -> String {
        var line = ""
        var bold = false
        for character in content {
            if character == "`" {
                line += bold ? "\\fR" : "\\fB"
                bold.toggle()
            } else {
                line += Roff.escaped(String(character))
            }
        }
        if bold { line += "\\fR" }
        if line.hasPrefix(".") || line.hasPrefix("'") { line = "\\&" + line }
        return line
    }

    static func escaped(_ text: String) -> String {
        var result = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\\": result += "\\e"
            case "-": result += "\\-"
            case _ where scalar.isASCII: result.unicodeScalars.append(scalar)
            default: result += "\\[u\(String(scalar.value, radix: 16, uppercase: true).leftPadded(to: 4))]"
            }
        }
        return result
    }

    static func quoted(_ text: String) -> String { "\"" + escaped(text).replacingOccurrences(of: "\"", with: "\\(dq") + "\"" }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
