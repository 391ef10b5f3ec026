import Foundation

/// Human-readable transfer rates for log lines.
enum ByteRate {
    static func format(_ bytesPerSecond: Double) -> String {
        let units = ["B/s", "KiB/s", "MiB/s", "GiB/s"]
        var value = bytesPerSecond
        var unit = 0
        while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
        return "\(String(format: "%.1f", value)) \(units[unit])"
    }
}
