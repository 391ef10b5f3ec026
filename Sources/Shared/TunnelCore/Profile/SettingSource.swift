/// Where one setting came from: a line of a file, a command-line option, DEST, or a built-in default.
/// Its `description` is the prefix of every error about that setting; `provenance` is what `ftptunnel show` prints.
public enum SettingSource: Sendable, Hashable, CustomStringConvertible {
    /// A line of a profile or of ~/.ssh/config (the path as shown to the user, `~` for the home directory).
    case file(String, line: Int)
    /// A dedicated command-line option such as `-p 2222`.
    case commandLine(option: String, value: String)
    /// `-o Keyword=Value`, as typed.
    case extraOption(String)
    /// The `user@` or `:port` part of DEST, as typed.
    case destination(String)
    /// Built into ftptunnel; the text says what the default means.
    case builtIn(String)

    public var description: String {
        switch self {
        case .file(let path, let line): "\(path):\(line)"
        case .commandLine(let option, let value): "\(option) \(Self.shortened(value))"
        case .extraOption(let text): "-o \(Self.shortened(text))"
        case .destination(let text): "DEST \(Self.shortened(text))"
        case .builtIn: "default"
        }
    }

    /// What the user typed, cut to a length that fits in one message.
    static func shortened(_ text: String) -> String { text.count > 64 ? String(text.prefix(48)) + "…" : text }

    public var provenance: String {
        switch self {
        case .file(let path, let line): "\(path):\(line)"
        case .commandLine(let option, _): "command line (\(option))"
        case .extraOption: "-o"
        case .destination: "command line (DEST)"
        case .builtIn(let note): note.isEmpty ? "default" : "default (\(note))"
        }
    }
}
