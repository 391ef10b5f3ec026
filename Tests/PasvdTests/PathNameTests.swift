import Posix
import Testing

/// File names that are not UTF-8 survive the trip through `String` unchanged.
@Suite struct PathNameTests {
    @Test func validUTF8IsUnchanged() {
        for name in ["plain.txt", "café.bin", "日本語", "emoji 🎉", ""] {
            #expect(PathName.decode(Array(name.utf8)) == name)
            #expect(PathName.bytes(name) == Array(name.utf8))
        }
    }

    @Test func everyByteSequenceRoundTrips() {
        var generator = SystemRandomNumberGenerator()
        let samples: [[UInt8]] = [[0xE9], [0xC3], [0xED, 0xA0, 0x80], [0xF8, 0x88], [0xEF, 0x9C, 0x80], [0xC0, 0xAF]]
            + (0..<2000).map { _ in (0..<Int.random(in: 1...12, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) } }
        for bytes in samples {
            #expect(PathName.bytes(PathName.decode(bytes)) == bytes, "\(bytes)")
        }
        // U+F7E9 as valid UTF-8 input is escaped byte by byte, so it cannot pose as the escape of 0xE9.
        #expect(PathName.decode([0xEF, 0x9F, 0xA9]) != PathName.decode([0xE9]))
    }
}
