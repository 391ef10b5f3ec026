import Foundation

/// Sizes and rates for people: sizes in binary units (`1.0 GiB`, `512 B`), rates in decimal megabytes per second
/// (`262 MB/s`, the unit of the benchmarks and of most FTP clients), three significant figures.
public enum ByteCount {
    public static func format(_ bytes: Int) -> String {
        guard bytes >= 1024 else { return "\(bytes) B" }
        let units = ["KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes) / 1024
        var unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        return "\(significant(value)) \(units[unit])"
    }

    public static func rate(bytes: Int, seconds: Double) -> String {
        guard seconds > 0 else { return "– MB/s" }
        let perSecond = Double(bytes) / seconds
        if perSecond >= 1_000_000 { return "\(significant(perSecond / 1_000_000)) MB/s" }
        return "\(significant(perSecond / 1000)) kB/s"
    }

    /// `4.1 s`, `12 s`, `2 min 5 s`.
    public static func duration(_ seconds: Double) -> String {
        if seconds < 10 { return String(format: "%.1f s", max(0, seconds)) }
        if seconds < 120 { return "\(Int(seconds.rounded())) s" }
        let whole = Int(seconds.rounded())
        return whole < 7200 ? "\(whole / 60) min \(whole % 60) s" : "\(whole / 3600) h \(whole % 3600 / 60) min"
    }

    /// Three significant figures: 1.00 → "1.0", 26.2 → "26.2", 262.4 → "262".
    static func significant(_ value: Double) -> String {
        if value >= 100 { return String(format: "%.0f", value) }
        if value >= 10 { return String(format: "%.1f", value) }
        return String(format: "%.1f", value)
    }
}
