/// One line of ftptunnel's detailed (-v) log, `ftptunnel: 18:01:02.345 info: text (conn=1 port=2121)`, split into
/// its text and its metadata so tests match on either without depending on where the metadata sits.
public struct TunnelLogLine {
    public let text: Substring
    public let metadata: [Substring: Substring]

    public init(_ line: Substring) {
        var text = line
        var metadata: [Substring: Substring] = [:]
        if line.hasSuffix(")"), let open = line.range(of: " (", options: .backwards) {
            let fields = line[open.upperBound..<line.index(before: line.endIndex)].split(separator: " ")
            let pairs = fields.map { $0.split(separator: "=", maxSplits: 1) }
            if !pairs.isEmpty, pairs.allSatisfy({ $0.count == 2 }) {
                for pair in pairs { metadata[pair[0]] = pair[1] }
                text = line[..<open.lowerBound]
            }
        }
        self.text = text
        self.metadata = metadata
    }

    /// Every line of `output`, parsed.
    public static func all(_ output: String) -> [TunnelLogLine] {
        output.split(separator: "\n").map(TunnelLogLine.init)
    }
}
