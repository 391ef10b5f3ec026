/// Splits a byte stream into raw lines that keep their terminator (CRLF or bare LF), for filters that must pass
/// bytes through unchanged. A line that grows past the cap is not buffered further: its bytes come out as
/// `overlongStart` (the first `maximumLineLength` bytes) and `overlongRest` pieces, so memory stays bounded and
/// nothing is dropped. Pure: any split of the input gives the same bytes in the same order.
public struct RawLineSplitter: Sendable {
    public enum Event: Equatable, Sendable {
        /// A complete line, terminator included.
        case line([UInt8])
        /// The first `maximumLineLength` bytes of a line that has no terminator yet.
        case overlongStart([UInt8])
        /// More bytes of that line; `ended` when these bytes include its LF.
        case overlongRest([UInt8], ended: Bool)
    }

    /// Default cap: 64 KiB without a newline.
    public static let defaultMaximumLineLength = 64 * 1024

    public let maximumLineLength: Int
    private var buffer: [UInt8] = []
    private var insideOverlongLine = false

    public init(maximumLineLength: Int = RawLineSplitter.defaultMaximumLineLength) {
        precondition(maximumLineLength >= 8, "a line cap below 8 bytes cannot hold a reply code")
        self.maximumLineLength = maximumLineLength
    }

    /// Bytes of an unfinished line held back (never more than `maximumLineLength`).
    public var pendingBytes: [UInt8] { buffer }

    /// Returns and forgets the unfinished line (at end of stream).
    public mutating func takePending() -> [UInt8] {
        defer { buffer.removeAll() }
        return buffer
    }

    public mutating func feed<C: Collection>(_ bytes: C) -> [Event] where C.Element == UInt8 {
        var events: [Event] = []
        var input = Array(bytes)[...]
        while !input.isEmpty {
            let newline = input.firstIndex(of: UInt8(ascii: "\n"))
            if insideOverlongLine {
                if let newline {
                    events.append(.overlongRest(Array(input[...newline]), ended: true))
                    insideOverlongLine = false
                    input = input[(newline + 1)...]
                } else {
                    events.append(.overlongRest(Array(input), ended: false))
                    input = []
                }
                continue
            }
            if let newline, buffer.count + (newline - input.startIndex) < maximumLineLength {
                buffer.append(contentsOf: input[...newline])
                events.append(.line(buffer))
                buffer.removeAll(keepingCapacity: true)
                input = input[(newline + 1)...]
                continue
            }
            let room = maximumLineLength - buffer.count
            buffer.append(contentsOf: input.prefix(room))
            input = input.dropFirst(room)
            if buffer.count == maximumLineLength {
                events.append(.overlongStart(buffer))
                buffer.removeAll(keepingCapacity: true)
                insideOverlongLine = true
            }
        }
        return events
    }

    /// A raw line without its LF and the CR before it.
    public static func content(of line: [UInt8]) -> ArraySlice<UInt8> {
        var slice = line[...]
        if slice.last == UInt8(ascii: "\n") { slice = slice.dropLast() }
        if slice.last == UInt8(ascii: "\r") { slice = slice.dropLast() }
        return slice
    }
}
