/// One FTP reply. Multi-line replies follow RFC 959 §4.2: `211-First`, continuation lines indented by a
/// space (so none can be mistaken for the end), and `211 Last`.
public struct Reply: Equatable, Sendable {
    public let code: Int
    public let lines: [String]

    public init(_ code: Int, _ text: String) {
        self.code = code
        lines = [text]
    }

    /// A multi-line reply: `first`, then `body` (each line indented), then `last`.
    public init(_ code: Int, first: String, body: [String], last: String) {
        self.code = code
        lines = [first] + body.map { " " + $0 } + [last]
    }

    public var wire: String {
        if lines.count == 1 { return "\(code) \(Reply.clean(lines[0]))\r\n" }
        var text = "\(code)-\(Reply.clean(lines[0]))\r\n"
        for line in lines.dropFirst().dropLast() { text += Reply.clean(line) + "\r\n" }
        return text + "\(code) \(Reply.clean(lines[lines.count - 1]))\r\n"
    }

    /// Replies never carry CR or LF from file names or arguments (no reply injection).
    private static func clean(_ text: String) -> String {
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            scalars.append(scalar == "\r" || scalar == "\n" || scalar == "\0" ? " " : scalar)
        }
        return String(scalars)
    }
}
