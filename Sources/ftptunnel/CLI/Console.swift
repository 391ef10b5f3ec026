import Foundation
import Posix
import ProgramSupport

/// What ftptunnel itself prints on the terminal: always stderr, so stdout stays the wrapped command's (`run`) or
/// the report's (`check`, `show`). One prefix for every subcommand: `ftptunnel: ` for notices,
/// `ftptunnel: error: ` for errors (the prefix ArgumentParser's own usage errors get too).
enum Console {
    static let prefix = "ftptunnel: "
    static let errorPrefix = "ftptunnel: error: "

    /// Control bytes in `text` (from -o values, profiles, servers) are shown as escapes, never sent to the terminal.
    static func notice(_ text: String) { StandardError.write(prefix + VisibleText.of(text, limit: 16384, keepingLineEnds: true) + "\n") }
    static func error(_ text: String) { StandardError.write(errorPrefix + VisibleText.of(text, limit: 16384, keepingLineEnds: true) + "\n") }

    /// A signal's last words: one newline-terminated line. A terminal that echoed `^C` left the cursor behind it,
    /// so the line starts on a fresh one.
    static func interrupted(_ text: String, signal number: Int32) {
        StandardError.write((number == SIGINT && Self.echoesControlCharacters ? "\n" : "") + prefix + text + "\n")
    }

    /// True when stdin is a terminal that echoes control characters (ECHOCTL), i.e. Ctrl-C showed as `^C`.
    private static var echoesControlCharacters: Bool { PosixTerminal.echoesControlCharacters(0) }
}
