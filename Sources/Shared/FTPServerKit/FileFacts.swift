import Foundation

/// What listings and SIZE/MDTM report about one file: taken from stat(2), formatted per RFC 3659 and `ls -l`.
public struct FileFacts: Sendable, Equatable {
    public enum Kind: Sendable { case file, directory, other }

    /// Files older than this (or in the future) show their year instead of the time in `ls -l` style.
    static let recentSeconds = 182 * 24 * 3600

    public let kind: Kind
    public let size: Int64
    public let modified: Int  // seconds since the epoch
    public let mode: UInt32
    public let links: Int

    public init(kind: Kind, size: Int64, modified: Int, mode: UInt32, links: Int = 1) {
        self.kind = kind
        self.size = size
        self.modified = modified
        self.mode = mode
        self.links = links
    }


    /// `YYYYMMDDHHMMSS` in UTC (MDTM and the `modify` fact).
    var timestamp: String {
        let t = FileFacts.utc(modified)
        return String(format: "%04d%02d%02d%02d%02d%02d", t.year, t.month, t.day, t.hour, t.minute, t.second)
    }

    /// Seconds since the epoch of a UTC `YYYYMMDDHHMMSS` (fractions after a dot ignored), or nil.
    static func seconds(fromTimestamp text: String) -> Int? {
        let digits = Array(text.split(separator: ".", maxSplits: 1).first ?? "")
        guard digits.count == 14, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber) else { return nil }
        func number(_ range: Range<Int>) -> Int32 { Int32(String(digits[range]))! }
        var parts = tm()
        parts.tm_year = number(0..<4) - 1900
        parts.tm_mon = number(4..<6) - 1
        parts.tm_mday = number(6..<8)
        parts.tm_hour = number(8..<10)
        parts.tm_min = number(10..<12)
        parts.tm_sec = number(12..<14)
        guard (0...11).contains(parts.tm_mon), (1...31).contains(parts.tm_mday), (0...23).contains(parts.tm_hour),
              (0...59).contains(parts.tm_min), (0...60).contains(parts.tm_sec) else { return nil }
        return Int(timegm(&parts))
    }

    /// RFC 3659 facts, `type=file;size=12;modify=…;perm=…;`, restricted to `selected` (lower-case names).
    func machineFacts(selected: Set<String>, writable: Bool) -> String {
        var facts = ""
        if selected.contains("type") {
            facts += "type=" + (kind == .directory ? "dir" : kind == .file ? "file" : "OS.unix=special") + ";"
        }
        if selected.contains("size"), kind == .file { facts += "size=\(size);" }
        if selected.contains("modify") { facts += "modify=\(timestamp);" }
        if selected.contains("perm") {
            let perm: String
            switch kind {
            case .directory: perm = writable ? "elcmpdf" : "el"
            case .file: perm = writable ? "rwadf" : "r"
            case .other: perm = ""
            }
            facts += "perm=\(perm);"
        }
        return facts
    }

    /// One `ls -l` line: `-rw-r--r--    1 ftp      ftp          1234 Jan 02 15:04 name`.
    func listLine(name: String, now: Int) -> String {
        let typeChar = kind == .directory ? "d" : kind == .file ? "-" : "?"
        let bits = Array("rwxrwxrwx")
        var permissions = typeChar
        for (index, char) in bits.enumerated() {
            permissions.append(mode & (UInt32(0o400) >> UInt32(index)) != 0 ? char : "-")
        }
        let t = FileFacts.utc(modified)
        let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][t.month - 1]
        let recent = modified <= now + 3600 && now - modified < FileFacts.recentSeconds
        let when = recent ? String(format: "%02d:%02d", t.hour, t.minute) : String(format: "%5d", t.year)
        let sizeText = String(size)
        let paddedSize = String(repeating: " ", count: max(0, 12 - sizeText.count)) + sizeText
        let paddedLinks = String(repeating: " ", count: max(0, 4 - String(links).count)) + String(links)
        return "\(permissions) \(paddedLinks) ftp      ftp      \(paddedSize) \(month) \(String(format: "%02d", t.day)) \(when) \(name)"
    }

    private struct Calendar { let year, month, day, hour, minute, second: Int }

    private static func utc(_ seconds: Int) -> Calendar {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        return Calendar(year: Int(parts.tm_year) + 1900, month: Int(parts.tm_mon) + 1, day: Int(parts.tm_mday),
                        hour: Int(parts.tm_hour), minute: Int(parts.tm_min), second: Int(parts.tm_sec))
    }
}
