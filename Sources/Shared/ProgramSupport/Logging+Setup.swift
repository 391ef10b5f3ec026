import Foundation
import Logging

/// One-time logging set-up shared by both executables: stderr (or a file), level from `-v` count.
public enum LogSetup {
    /// 0 → notice, 1 → info, 2 → debug, 3+ → trace.
    public static func level(verbosity: Int) -> Logger.Level {
        switch verbosity {
        case ..<1: return .notice
        case 1: return .info
        case 2: return .debug
        default: return .trace
        }
    }

    /// How lines on stderr look.
    public enum Style: Sendable {
        /// swift-log's standard stream format (timestamp, level, label, metadata): for daemons.
        case standard
        /// An interactive tool's: at the default level one plain sentence per line (`NAME: text`, warnings
        /// `NAME: warning: text`); with -v also a time, the level and the metadata (`TerminalLogHandler`).
        case plain
    }

    /// Bootstraps swift-log once per process. `logFile` appends; nil logs to stderr.
    public static func bootstrap(label: String, verbosity: Int, logFile: String?, style: Style = .standard) throws {
        let level = level(verbosity: verbosity)
        if let logFile {
            guard FileManager.default.fileExists(atPath: logFile)
                || FileManager.default.createFile(atPath: logFile, contents: nil),
                let handle = FileHandle(forWritingAtPath: logFile)
            else { throw LogSetupError.cannotOpen(logFile) }
            handle.seekToEndOfFile()
            let stream = FileLogStream(handle: handle)
            LoggingSystem.bootstrap { label in FileLogHandler(stream: stream, label: label, level: level) }
        } else if style == .plain {
            let detailed = verbosity > 0
            LoggingSystem.bootstrap { label in TerminalLogHandler(label: label, level: level, detailed: detailed) }
        } else {
            LoggingSystem.bootstrap { label in
                var h = StreamLogHandler.standardError(label: label)
                h.logLevel = level
                return h
            }
        }
    }
}

public enum LogSetupError: Error, CustomStringConvertible {
    case cannotOpen(String)
    public var description: String {
        switch self {
        case .cannotOpen(let path): return "cannot open log file \(path): check the directory exists and is writable"
        }
    }
}

/// Serialises appends to a log file shared by all loggers of the process.
final class FileLogStream: @unchecked Sendable {
    private let handle: FileHandle
    private let lock = NSLock()
    init(handle: FileHandle) { self.handle = handle }
    func write(_ line: String) {
        lock.lock(); defer { lock.unlock() }
        handle.write(Data(line.utf8))
    }
}

struct FileLogHandler: LogHandler {
    let stream: FileLogStream
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    init(stream: FileLogStream, label: String, level: Logger.Level) {
        self.stream = stream
        self.label = label
        self.logLevel = level
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let level = event.level, message = event.message
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        let meta = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0)=\($1)" }.joined(separator: " ")
        let stamp = ISO8601DateFormatter().string(from: Date())
        stream.write("\(stamp) \(level) \(label):\(meta) \(message)\n")
    }
}
