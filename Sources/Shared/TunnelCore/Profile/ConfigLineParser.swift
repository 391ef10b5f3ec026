/// One `Keyword value…` line of an ssh_config-style file.
public struct ConfigEntry: Sendable, Equatable {
    /// The keyword as written (keywords are case-insensitive).
    public let keyword: String
    /// The values after the keyword, unquoted; a `#` starting an unquoted word ends the line.
    public let arguments: [String]
    /// 1-based line number.
    public let line: Int

    public init(keyword: String, arguments: [String], line: Int) {
        self.keyword = keyword
        self.arguments = arguments
        self.line = line
    }
}

/// The ssh_config grammar, without meaning: `Keyword value`, `Keyword=value`, `Keyword = value`, `#` comments,
/// blank lines, double or single quotes around values containing spaces, LF, CRLF or CR line ends.
public enum ConfigLineParser {
    /// Parses a whole file. `file` is the name used in errors.
    public static func parse(_ text: String, file: String) throws -> [ConfigEntry] {
        var entries: [ConfigEntry] = []
        var body = Substring(text)
        if body.hasPrefix("\u{FEFF}") { body = body.dropFirst() }
        let lines = body.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        for (index, line) in lines.enumerated() {
            let number = index + 1
            if let entry = try parseLine(line, line: number, at: .file(file, line: number)) { entries.append(entry) }
        }
        return entries
    }

    /// Parses one line; nil for a blank or comment line. `at` names the line in errors.
    public static func parseLine(_ text: Substring, line: Int, at source: SettingSource) throws -> ConfigEntry? {
        var rest = text.drop(while: isBlank)
        if rest.isEmpty || rest.first == "#" { return nil }
        let keyword = rest.prefix { !isBlank($0) && $0 != "=" }
        guard !keyword.isEmpty else {
            throw ProfileError.syntax(at: source, problem: "a line starts with '=' but has no keyword",
                                      hint: "write `Keyword value` or `Keyword=value`")
        }
        rest = rest[keyword.endIndex...].drop(while: isBlank)
        if rest.first == "=" { rest = rest.dropFirst().drop(while: isBlank) }
        return ConfigEntry(keyword: String(keyword), arguments: try words(rest, at: source), line: line)
    }

    /// Splits values at blanks; quotes group blanks into one word; an unquoted word starting with `#` ends the line.
    static func words(_ text: Substring, at source: SettingSource) throws -> [String] {
        var words: [String] = []
        var index = text.startIndex
        while true {
            while index < text.endIndex, isBlank(text[index]) { index = text.index(after: index) }
            guard index < text.endIndex, text[index] != "#" else { return words }
            var word = ""
            while index < text.endIndex, !isBlank(text[index]) {
                let c = text[index]
                if c == "\"" || c == "'" {
                    guard let close = text[text.index(after: index)...].firstIndex(of: c) else {
                        throw ProfileError.syntax(at: source, problem: "a \(c) quote is not closed",
                                                  hint: "end the quoted value with \(c) on the same line")
                    }
                    word += text[text.index(after: index)..<close]
                    index = text.index(after: close)
                } else {
                    word.append(c)
                    index = text.index(after: index)
                }
            }
            words.append(word)
        }
    }

    static func isBlank(_ c: Character) -> Bool { c == " " || c == "\t" || c == "\u{0B}" || c == "\u{0C}" }
}
