/// The one line logged per transfer, the same in ftptunnel's rewrite mode and in pasvd:
/// `RETR f 1.0 GiB 4.1 s 262 MB/s`, or `STOR g failed after 12 MiB, 2.0 s: 451 Local error`.
public enum TransferLine {
    /// A transfer that completed: its title (verb and path), size, duration and rate.
    public static func completed(_ title: String, bytes: Int, seconds: Double) -> String {
        "\(title) \(ByteCount.format(bytes)) \(ByteCount.duration(seconds)) \(ByteCount.rate(bytes: bytes, seconds: seconds))"
    }

    /// A transfer that failed, with what it moved before (nil: no data connection carried it) and why.
    public static func failed(_ title: String, moved: (bytes: Int, seconds: Double)?, reason: String) -> String {
        let after = moved.map { " after \(ByteCount.format($0.bytes)), \(ByteCount.duration($0.seconds))" } ?? ""
        return "\(title) failed\(after): \(reason)"
    }
}
