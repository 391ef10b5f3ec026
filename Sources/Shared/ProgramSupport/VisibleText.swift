/// Text from users, files and servers made safe to print on a terminal, as OpenSSH's strnvis(3) does: control
/// bytes (C0, DEL, C1) and bytes that are not UTF-8 become visible octal escapes (`\033`), a backslash `\\`;
/// printable text, non-ASCII letters included, stays as it is. At most `limit` bytes of input are shown.
/// `keepingLineEnds`: for a whole message of ours (values in it escaped already, or not): LF stays a line end and
/// a backslash stays single, so escapes made earlier are not escaped twice; any other control byte is escaped.
public enum VisibleText {
    public static func of(_ text: String, limit: Int = 512, keepingLineEnds: Bool = false) -> String {
        of(bytes: Array(text.utf8), limit: limit, keepingLineEnds: keepingLineEnds)
    }

    public static func of<Bytes: Collection>(bytes: Bytes, limit: Int = 512, keepingLineEnds: Bool = false) -> String
        where Bytes.Element == UInt8 {
        let shown = Array(bytes.prefix(limit))
        var out = ""
        var index = 0
        while index < shown.count {
            let byte = shown[index]
            if byte == UInt8(ascii: "\\") {
                out += keepingLineEnds ? "\\" : "\\\\"; index += 1
            } else if byte == 0x0A, keepingLineEnds {
                out += "\n"; index += 1
            } else if byte < 0x20 || byte == 0x7F {
                out += octal(byte); index += 1
            } else if byte < 0x80 {
                out.unicodeScalars.append(Unicode.Scalar(byte)); index += 1
            } else if let (scalar, length) = decodeScalar(shown, at: index), !(0x80...0x9F).contains(scalar.value) {
                out.unicodeScalars.append(scalar); index += length
            } else {
                out += octal(byte); index += 1
            }
        }
        return shown.count < bytes.count ? out + "…" : out
    }

    static func octal(_ byte: UInt8) -> String {
        "\\" + String(byte >> 6) + String((byte >> 3) & 7) + String(byte & 7)
    }

    /// One well-formed UTF-8 scalar starting at `index`, and its length.
    static func decodeScalar(_ bytes: [UInt8], at index: Int) -> (Unicode.Scalar, Int)? {
        var iterator = bytes[index...].makeIterator()
        var decoder = UTF8()
        guard case .scalarValue(let scalar) = decoder.decode(&iterator) else { return nil }
        return (scalar, UTF8.width(scalar))
    }
}
