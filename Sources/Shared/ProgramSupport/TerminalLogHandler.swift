import Foundation
import Logging
import Posix

/// stderr lines of an interactive tool, one `write(2)` each so lines from several threads never interleave.
///
/// Default level: `ftptunnel: text` (warnings `ftptunnel: warning: text`, errors `ftptunnel: error: text`), as
/// OpenSSH prints its notices. Detailed (-v): `ftptunnel: 18:01:02.345 info: text (conn=1 port=2121)`, metadata
/// sorted by key.
public struct TerminalLogHandler: LogHandler {
    public let label: String
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    let detailed: Bool

    public init(label: String, level: Logger.Level, detailed: Bool) {
        self.label = label
        self.logLevel = level
        self.detailed = detailed
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        // Messages carry user names, paths and server text: control bytes are shown as escapes (strnvis).
        let line = Self.line(label: label, level: event.level, message: "\(event.message)", metadata: all,
                             detailed: detailed, time: Date())
        StandardError.write(VisibleText.of(String(line.dropLast()), limit: 16384, keepingLineEnds: true) + "\n")
    }

    /// The formatted line, newline included.
    public static func line(label: String, level: Logger.Level, message: String, metadata: Logger.Metadata,
                            detailed: Bool, time: Date) -> String {
        guard detailed else {
            switch level {
            case .warning: return "\(label): warning: \(message)\n"
            case .error, .critical: return "\(label): error: \(message)\n"
            default: return "\(label): \(message)\n"
            }
        }
        let meta = metadata.isEmpty ? "" : " (" + metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            .joined(separator: " ") + ")"
        return "\(label): \(clock(time)) \(level): \(message)\(meta)\n"
    }

    /// `HH:MM:SS.mmm`, local time.
    static func clock(_ time: Date) -> String {
        var seconds = time_t(time.timeIntervalSince1970)
        var parts = tm()
        localtime_r(&seconds, &parts)
        let millis = Int(time.timeIntervalSince1970 * 1000) % 1000
        return String(format: "%02d:%02d:%02d.%03d", parts.tm_hour, parts.tm_min, parts.tm_sec, millis)
    }
}

/// Whole lines to fd 2, one write each (a short write is continued).
public enum StandardError {
    public static func write(_ text: String) {
        try? PosixFile.writeAll(2, Array(text.utf8))
    }
}
