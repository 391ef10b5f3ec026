import Foundation

/// An inclusive range of TCP ports written `LO-HI` (or a single `PORT`), as in `PassivePorts 40000-40009`.
public struct PortRange: Sendable, Hashable, CustomStringConvertible {
    public let lower: Int
    public let upper: Int

    public init?(lower: Int, upper: Int) {
        guard (1...65535).contains(lower), (1...65535).contains(upper), lower <= upper else { return nil }
        self.lower = lower
        self.upper = upper
    }

    /// Parses `LO-HI` or a single port. Returns nil for anything else (callers name the option in their error).
    public init?(_ text: String) {
        let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCIIDigit) && $0.count <= 5 }),
              let lo = Int(parts[0]), let hi = Int(parts.count == 2 ? parts[1] : parts[0])
        else { return nil }
        self.init(lower: lo, upper: hi)
    }

    public var count: Int { upper - lower + 1 }
    public var ports: ClosedRange<Int> { lower...upper }
    public func contains(_ port: Int) -> Bool { ports.contains(port) }
    public var description: String { lower == upper ? "\(lower)" : "\(lower)-\(upper)" }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
