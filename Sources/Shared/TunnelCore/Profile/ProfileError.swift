import ProgramSupport

/// Everything that can be wrong with a profile, ~/.ssh/config, `-o` or DEST.
/// Printed as one sentence: `WHERE: KEYWORD: what is wrong — what to do`.
public enum ProfileError: Error, CustomStringConvertible, Equatable {
    case unknownKeyword(at: SettingSource, keyword: String, suggestion: String?)
    case passwordKeyword(at: SettingSource, keyword: String)
    case missingValue(at: SettingSource, keyword: String)
    case tooManyValues(at: SettingSource, keyword: String, count: Int)
    case invalidValue(at: SettingSource, keyword: String, value: String, problem: String, hint: String)
    case conflictingValue(at: SettingSource, keyword: String, value: String, firstAt: SettingSource)
    case syntax(at: SettingSource, problem: String, hint: String)
    case blockNotAllowed(at: SettingSource, keyword: String)
    case profileNotFound(path: String)
    case unreadable(path: String, reason: String)
    case invalidDestination(String, problem: String)

    /// Where the problem is (nil for DEST and missing files).
    public var source: SettingSource? {
        switch self {
        case .unknownKeyword(let at, _, _), .passwordKeyword(let at, _), .missingValue(let at, _),
             .tooManyValues(let at, _, _), .invalidValue(let at, _, _, _, _), .conflictingValue(let at, _, _, _),
             .syntax(let at, _, _), .blockNotAllowed(let at, _):
            return at
        case .profileNotFound, .unreadable, .invalidDestination:
            return nil
        }
    }

    /// The sentence, with control bytes from the user's text shown as escapes (never sent to the terminal).
    public var description: String { VisibleText.of(text, limit: 4096) }

    private var text: String {
        switch self {
        case .unknownKeyword(let at, let keyword, let suggestion):
            let hint = suggestion.map { "did you mean \($0)?" }
                ?? "use one of: \(ProfileKeyword.allCases.map(\.rawValue).joined(separator: ", "))"
            return "\(at): \(keyword): unknown keyword — \(hint)"
        case .passwordKeyword(let at, let keyword):
            return "\(at): \(keyword): passwords are never read from profiles or the command line — "
                + "use ssh-agent or a key (IdentityFile); ftptunnel asks on the terminal when the server wants a password"
        case .missingValue(let at, let keyword):
            return "\(at): \(keyword): no value given — write `\(keyword) VALUE`"
        case .tooManyValues(let at, let keyword, let count):
            return "\(at): \(keyword): expects one value but \(count) were given — quote a value that contains spaces"
        case .invalidValue(let at, let keyword, let value, let problem, let hint):
            return "\(at): \(keyword): '\(value)' \(problem) — \(hint)"
        case .conflictingValue(let at, let keyword, let value, let firstAt):
            return "\(at): \(keyword): '\(value)' contradicts the value already given at \(firstAt) — keep only one of them"
        case .syntax(let at, let problem, let hint):
            return "\(at): \(problem) — \(hint)"
        case .blockNotAllowed(let at, let keyword):
            return "\(at): \(keyword): not allowed here — a profile describes one site, so Host/Match/Include belong in "
                + "~/.ssh/config; write the site's settings directly, one file per site"
        case .profileNotFound(let path):
            return "profile \(path) does not exist — check the path, or run `ftptunnel profiles` to list the profiles"
        case .unreadable(let path, let reason):
            return "\(path) cannot be read (\(reason)) — check that the file exists and is readable"
        case .invalidDestination(let text, let problem):
            return "destination '\(text)' \(problem) — give a profile name, an ~/.ssh/config Host alias, or [user@]host[:port]"
        }
    }
}
