import Foundation
import Posix

/// Reads the settings ftptunnel uses from ~/.ssh/config for one host alias, the way OpenSSH does:
/// lines before the first `Host` apply to every host; a `Host` line whose patterns match the alias turns its
/// block on; the first value obtained for a keyword wins. `Include` is followed (globs; relative paths are
/// under ~/.ssh; only inside matching blocks). `Match` lines are evaluated as OpenSSH does for `all`, `host`,
/// `originalhost`, `user`, `localuser` and `exec` (`MatchCondition`); any other criterion is an error naming the line.
/// Keywords ftptunnel does not use are ignored, unless they would decide where or as whom ssh connects
/// (`UnsupportedRouteKeyword`): those stop with the line, so ftptunnel never silently takes another path than ssh.
/// A bad value for a keyword it uses is an error naming the line.
struct SSHConfigReader {
    static let maxIncludeDepth = 16
    static let algorithmKeywords: Set<ProfileKeyword> = [.ciphers, .macs, .kexAlgorithms, .hostKeyAlgorithms]

    let home: String
    let display: (String) -> String
    /// What `Match` criteria are tested against.
    let context: MatchContext
    private(set) var layer = SettingsLayer(duplicates: .firstWins)
    private(set) var notes: [String] = []

    init(home: String, display: @escaping (String) -> String, context: MatchContext) {
        self.home = home
        self.display = display
        self.context = context
    }

    /// Reads `path` (a missing file is no error) for `alias`.
    mutating func read(path: String, alias: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        var active = true
        try read(path: path, alias: alias, active: &active, depth: 0)
    }

    private mutating func read(path: String, alias: String, active: inout Bool, depth: Int) throws {
        let shown = display(path)
        let text = try ProfileFile.readText(path, shownAs: shown, missing: .unreadable(path: shown, reason: "no such file"))
        for entry in try ConfigLineParser.parse(text, file: shown) {
            let source = SettingSource.file(shown, line: entry.line)
            switch entry.keyword.lowercased() {
            case "host":
                active = HostPatternList(patterns: entry.arguments).matches(alias)
            case "match":
                active = try MatchCondition(entry.arguments, at: source).matches(context.state(layer: layer), home: home)
            case "include" where active:
                try include(entry.arguments, alias: alias, at: source, active: &active, depth: depth)
            default:
                guard active else { continue }
                guard let keyword = ProfileKeyword.named(entry.keyword) else {
                    try UnsupportedRouteKeyword.check(entry.keyword, entry.arguments, at: source)
                    continue
                }
                guard keyword.readFromSSHConfig else { continue }
                if SSHConfigReader.algorithmKeywords.contains(keyword), let first = entry.arguments.first?.first,
                   "+-^".contains(first) {
                    notes.append("\(source): \(keyword.rawValue) edits OpenSSH's default list; ignored, libssh2's defaults apply")
                    continue
                }
                try layer.apply(keyword, entry.arguments, at: source)
            }
        }
    }

    private mutating func include(_ patterns: [String], alias: String, at source: SettingSource,
                                  active: inout Bool, depth: Int) throws {
        guard depth < SSHConfigReader.maxIncludeDepth else {
            throw ProfileError.syntax(at: source, problem: "Include nests deeper than \(SSHConfigReader.maxIncludeDepth) files",
                                      hint: "remove the Include loop")
        }
        let expander = PathExpander(home: home, tokens: [:])
        for pattern in patterns {
            var path = (try? expander.expandTilde(pattern)) ?? pattern
            if !path.hasPrefix("/") { path = "\(home)/.ssh/\(path)" }
            for file in SSHConfigReader.glob(path) {
                let saved = active
                try read(path: file, alias: alias, active: &active, depth: depth + 1)
                active = saved
            }
        }
    }

    static func glob(_ pattern: String) -> [String] { PosixFile.glob(pattern) }
}
