#if canImport(Glibc)
import Glibc
#endif

/// A failed system call: the function's name (with what it was applied to) and errno, read at once.
public struct PosixError: Error, Equatable, CustomStringConvertible, Sendable {
    public let function: String
    public let code: Int32

    public init(_ function: String, code: Int32) {
        self.function = function
        self.code = code
    }

    /// The reason alone, as strerror(3) words it.
    public var reason: String { PosixError.reason(for: code) }

    /// The errno value the call just made left: read it first thing after a call that failed (any other call,
    /// even a log line, may change it).
    public static func lastCode() -> Int32 { errno }

    /// What errno value `code` means, as strerror(3) words it.
    public static func reason(for code: Int32) -> String { String(cString: strerror(code)) }
    public var description: String { "\(function) failed: \(reason)" }
}

/// The outcome of a non-blocking system call: done, or "try again when poll says so" (EAGAIN/EWOULDBLOCK/EINPROGRESS).
public enum IOResult<Value> {
    case done(Value)
    case wouldBlock
}

extension IOResult: Equatable where Value: Equatable {}
extension IOResult: Sendable where Value: Sendable {}

/// The choke point for system calls (in the manner of swift-nio's `syscall(blocking:where:_:)`): errno is read
/// right after the call, EINTR is retried, EAGAIN becomes `.wouldBlock`, any other failure a thrown `PosixError`
/// naming the function.
public enum Posix {
    /// Calls `body` (returning -1 and setting errno on failure) and classifies the result.
    @inline(__always)
    public static func call<T: BinaryInteger>(_ function: @autoclosure () -> String, _ body: () -> T) throws(PosixError) -> IOResult<T> {
        while true {
            let rc = body()
            if rc >= 0 { return .done(rc) }
            let code = errno
            if code == EINTR { continue }
            if code == EAGAIN || code == EWOULDBLOCK || code == EINPROGRESS { return .wouldBlock }
            throw PosixError(function(), code: code)
        }
    }

    /// Like `call` for calls on blocking descriptors (EAGAIN is a failure there).
    @inline(__always) @discardableResult
    public static func callBlocking<T: BinaryInteger>(_ function: @autoclosure () -> String, _ body: () -> T) throws(PosixError) -> T {
        while true {
            let rc = body()
            if rc >= 0 { return rc }
            let code = errno
            if code == EINTR { continue }
            throw PosixError(function(), code: code)
        }
    }
}
