/// Splits a byte stream into lines ending in LF (CRLF or bare LF), with a hard cap on line length.
/// Pure: feed bytes as they arrive, in any split, and take complete lines out.
public struct LineFramer: Sendable {
    public enum Event: Equatable, Sendable {
        /// A complete line without its terminator (CR and LF removed).
        case line([UInt8])
        /// A line longer than the cap was discarded up to and including its terminator.
        case overlong(length: Int)
    }

    public let maximumLineLength: Int
    private var buffer: [UInt8] = []
    private var discarding = false
    private var discardedLength = 0

    /// Default cap: 4096 bytes per command or reply line.
    public static let defaultMaximumLineLength = 4096

    public init(maximumLineLength: Int = LineFramer.defaultMaximumLineLength) {
        self.maximumLineLength = maximumLineLength
    }

    /// Bytes held back waiting for the end of their line.
    public var pendingBytes: [UInt8] { buffer }

    /// Appends `bytes` and returns every line they complete, in order.
    public mutating func feed<C: Collection>(_ bytes: C) -> [Event] where C.Element == UInt8 {
        var events: [Event] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if discarding {
                    events.append(.overlong(length: discardedLength))
                    discarding = false
                    discardedLength = 0
                } else {
                    if buffer.last == UInt8(ascii: "\r") { buffer.removeLast() }
                    events.append(.line(buffer))
                }
                buffer.removeAll(keepingCapacity: true)
                continue
            }
            if discarding { discardedLength += 1; continue }
            buffer.append(byte)
            if buffer.count > maximumLineLength + 1 {  // +1 leaves room for the CR of a CRLF
                discarding = true
                discardedLength = buffer.count
                buffer.removeAll(keepingCapacity: true)
            }
        }
        return events
    }
}
