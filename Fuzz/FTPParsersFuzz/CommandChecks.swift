import FuzzSupport
import FTPCore

/// FTPCommandLine: a parsed command written back to the wire parses to itself.
enum CommandChecks {
    static func commandLine(_ line: [UInt8]) {
        let content = Array(RawLineSplitter.content(of: line))
        _ = FTPCommandLine.isHTTPRequestLine(content)
        guard let command = FTPCommandLine(line: content) else { return }
        fuzzCheck((3...4).contains(command.verb.count) && command.verb.allSatisfy { $0.isASCII && $0.isUppercase },
                  "verb \(command.verb.debugDescription)")
        let wire = command.wireBytes
        fuzzCheck(wire.suffix(2) == [13, 10], "wire form without CRLF")
        let reparsed = FTPCommandLine(line: Array(wire.dropLast(2)))
        fuzzCheck(reparsed == command, "command round trip: \(command) vs \(String(describing: reparsed))")
    }
}
