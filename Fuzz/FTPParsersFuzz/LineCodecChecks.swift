import FuzzSupport
import FTPCore

/// LineFramer and RawLineSplitter: same result for any split of the input, caps kept, nothing lost.
enum LineCodecChecks {
    /// Feeds `stream` in reads of `readSize` bytes and collects the events.
    static func inReads<Event>(_ stream: [UInt8], of readSize: Int, _ feed: (ArraySlice<UInt8>) -> [Event]) -> [Event] {
        stride(from: 0, to: stream.count, by: readSize).flatMap { feed(stream[$0..<min(stream.count, $0 + readSize)]) }
    }

    static func lineFramer(_ stream: [UInt8], cap: Int, readSize: Int) {
        var whole = LineFramer(maximumLineLength: cap)
        let expected = whole.feed(stream)
        var pieces = LineFramer(maximumLineLength: cap)
        let events = inReads(stream, of: readSize) { pieces.feed($0) }
        fuzzCheck(events == expected, "LineFramer depends on the read size \(readSize)")
        fuzzCheck(pieces.pendingBytes == whole.pendingBytes, "LineFramer keeps different pending bytes")
        for event in expected {
            guard case .line(let line) = event else { continue }
            fuzzCheck(!line.contains(UInt8(ascii: "\n")), "a LineFramer line contains LF")
            fuzzCheck(line.count <= cap + 1, "a \(line.count)-byte LineFramer line with cap \(cap)")
        }
        fuzzCheck(whole.pendingBytes.count <= cap + 1, "LineFramer holds \(whole.pendingBytes.count) bytes with cap \(cap)")
    }

    /// Returns the complete lines (terminator included; over-long lines as their first `cap` bytes).
    static func rawLineSplitter(_ stream: [UInt8], cap: Int, readSize: Int) -> [[UInt8]] {
        var whole = RawLineSplitter(maximumLineLength: cap)
        let expected = whole.feed(stream)
        var pieces = RawLineSplitter(maximumLineLength: cap)
        let events = inReads(stream, of: readSize) { pieces.feed($0) }
        var wholeBytes: [UInt8] = []
        for event in expected {
            switch event {
            case .line(let bytes): wholeBytes += bytes
            case .overlongStart(let bytes), .overlongRest(let bytes, _): wholeBytes += bytes
            }
        }
        var pieceBytes: [UInt8] = []
        var lines: [[UInt8]] = []
        for event in events {
            switch event {
            case .line(let bytes):
                fuzzCheck(bytes.last == UInt8(ascii: "\n") && bytes.count <= cap,
                          "a \(bytes.count)-byte RawLineSplitter line (cap \(cap)) or one without LF")
                fuzzCheck(!bytes.dropLast().contains(UInt8(ascii: "\n")), "a RawLineSplitter line with an inner LF")
                pieceBytes += bytes
                lines.append(bytes)
            case .overlongStart(let bytes):
                fuzzCheck(bytes.count == cap && !bytes.contains(UInt8(ascii: "\n")), "an over-long start of \(bytes.count) bytes, cap \(cap)")
                pieceBytes += bytes
                lines.append(bytes)
            case .overlongRest(let bytes, let ended):
                fuzzCheck(ended == bytes.contains(UInt8(ascii: "\n")), "overlongRest ended=\(ended) disagrees with its bytes")
                pieceBytes += bytes
            }
        }
        // Pieces may differ (an over-long rest comes in as many parts as reads); the bytes never do.
        fuzzCheck(pieceBytes == wholeBytes, "RawLineSplitter output depends on the read size \(readSize)")
        fuzzCheck(pieces.pendingBytes == whole.pendingBytes, "RawLineSplitter keeps different pending bytes")
        fuzzCheck(wholeBytes + whole.pendingBytes == stream, "RawLineSplitter lost or changed bytes")
        fuzzCheck(whole.pendingBytes.count < cap, "RawLineSplitter holds \(whole.pendingBytes.count) bytes with cap \(cap)")
        return lines
    }
}
