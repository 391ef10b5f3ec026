#if canImport(Glibc)
import Glibc
#endif

/// File names are bytes on Linux, not necessarily UTF-8. To carry any name through Swift `String`s and back
/// unchanged, bytes that are not valid UTF-8 are escaped as the private-use scalars U+F700+byte (and those
/// scalars themselves never come from valid input: they are escaped too, byte by byte). `bytes(_:)` undoes it.
/// Every path the `PosixFile` calls take goes through `withCString`, so a listed name opens the very file.
public enum PathName {
    /// U+F700 + byte stands for one byte that is not part of a valid UTF-8 sequence.
    public static let escapeBase: UInt32 = 0xF700

    /// The name as a `String`, invalid bytes escaped.
    public static func decode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let input = Array(bytes)
        var scalars = String.UnicodeScalarView()
        var index = 0
        while index < input.count {
            if let (scalar, length) = decodeOne(input, at: index), !(escapeBase...(escapeBase + 0xFF)).contains(scalar.value) {
                scalars.append(scalar)
                index += length
            } else {
                scalars.append(Unicode.Scalar(escapeBase + UInt32(input[index]))!)
                index += 1
            }
        }
        return String(scalars)
    }

    /// The original bytes of a decoded name (UTF-8 with escapes resolved).
    public static func bytes(_ name: String) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(name.utf8.count)
        for scalar in name.unicodeScalars {
            if (escapeBase...(escapeBase + 0xFF)).contains(scalar.value) {
                result.append(UInt8(scalar.value - escapeBase))
            } else {
                result.append(contentsOf: String(scalar).utf8)
            }
        }
        return result
    }

    /// Calls `body` with the NUL-terminated original bytes of `name`.
    public static func withCString<R>(_ name: String, _ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        let raw = bytes(name) + [0]
        return try raw.withUnsafeBufferPointer { buffer in
            try buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: raw.count) { try body($0) }
        }
    }

    /// One valid UTF-8 sequence at `index` (shortest form, no surrogates), nil when the bytes there are invalid.
    private static func decodeOne(_ input: [UInt8], at index: Int) -> (Unicode.Scalar, Int)? {
        let lead = input[index]
        let length: Int
        switch lead {
        case 0x00...0x7F: return (Unicode.Scalar(lead), 1)
        case 0xC2...0xDF: length = 2
        case 0xE0...0xEF: length = 3
        case 0xF0...0xF4: length = 4
        default: return nil
        }
        guard index + length <= input.count else { return nil }
        var transcoder = Unicode.UTF8.ForwardParser()
        var iterator = input[index..<(index + length)].makeIterator()
        guard case .valid(let encoded) = transcoder.parseScalar(from: &iterator),
              encoded.count == length else { return nil }
        return (Unicode.UTF8.decode(encoded), length)
    }
}
