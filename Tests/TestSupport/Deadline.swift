import Foundation

/// Waiting for a condition with a deadline: the only way tests synchronise with real processes.
public enum Deadline {
    public struct Expired: Error, CustomStringConvertible {
        public let what: String
        public let seconds: Double
        public var description: String { "timed out after \(seconds)s waiting for \(what)" }
    }

    /// Re-evaluates `condition` (every 20 ms, backing off to 200 ms) until it is true or `seconds` pass.
    public static func wait(for what: String, seconds: Double = 20, _ condition: () throws -> Bool) throws {
        let end = Date().addingTimeInterval(seconds)
        var interval: UInt32 = 20_000
        while true {
            if try condition() { return }
            if Date() >= end { throw Expired(what: what, seconds: seconds) }
            usleep(interval)
            interval = min(interval * 2, 200_000)
        }
    }

    /// Like `wait`, but returns the first non-nil value `produce` yields.
    public static func value<T>(of what: String, seconds: Double = 20, _ produce: () throws -> T?) throws -> T {
        var result: T?
        try wait(for: what, seconds: seconds) {
            result = try produce()
            return result != nil
        }
        return result!
    }
}
