import CLibSSH2
import Foundation

/// Raw libssh2 handles. Only files in SSH/ see libssh2 types; everything else uses `SSHSession`/`SSHChannel`.
typealias SessionHandle = OpaquePointer
typealias ChannelHandle = OpaquePointer

/// The outcome of a non-blocking libssh2 call: done, or "try again when the socket is ready".
enum SSHResult<Value> {
    case done(Value)
    case wouldBlock
}

/// One failed libssh2 call: the function, libssh2's code and its last-error text.
struct LibSSH2Failure: Error, CustomStringConvertible {
    let function: String
    let code: Int32
    let message: String
    var description: String { "\(function) failed: \(message) (libssh2 error \(code))" }

    var isChannelOpenRefusal: Bool { code == LIBSSH2_ERROR_CHANNEL_FAILURE }
    /// The server closed the connection (or it broke) in the middle of a call.
    var isDisconnect: Bool {
        [LIBSSH2_ERROR_SOCKET_SEND, LIBSSH2_ERROR_SOCKET_RECV, LIBSSH2_ERROR_SOCKET_DISCONNECT].contains(code)
    }
    var isAuthenticationFailure: Bool {
        code == LIBSSH2_ERROR_AUTHENTICATION_FAILED || code == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED
    }
}

/// The choke point for libssh2 calls (in the manner of swift-nio's `syscall(blocking:where:_:)`):
/// EAGAIN becomes `.wouldBlock`, any other negative code a thrown `LibSSH2Failure` with libssh2's own text.
enum LibSSH2 {
    private static let initialised: Int32 = libssh2_init(0)

    /// libssh2_init, exactly once per process (Swift initialises the static lazily and thread-safely).
    static func initialiseOnce() throws {
        guard initialised == 0 else {
            throw LibSSH2Failure(function: "libssh2_init", code: initialised, message: "libssh2 could not initialise its crypto back end")
        }
    }

    /// Calls `body` (returning a libssh2 status or byte count) and classifies the result.
    static func call<T: BinaryInteger>(_ session: SessionHandle, _ function: String, _ body: () -> T) throws -> SSHResult<T> {
        let rc = body()
        if rc >= 0 { return .done(rc) }
        if rc == T(LIBSSH2_ERROR_EAGAIN) { return .wouldBlock }
        throw failure(session, function, code: Int32(truncatingIfNeeded: rc))
    }

    /// Like `call`, for blocking-mode calls (set-up and authentication), where EAGAIN cannot happen.
    @discardableResult
    static func callBlocking<T: BinaryInteger>(_ session: SessionHandle, _ function: String, _ body: () -> T) throws -> T {
        switch try call(session, function, body) {
        case .done(let value): return value
        case .wouldBlock: throw failure(session, function, code: LIBSSH2_ERROR_EAGAIN)
        }
    }

    /// Calls a libssh2 function returning a pointer; NULL is classified with `libssh2_session_last_errno`.
    static func callPointer(_ session: SessionHandle, _ function: String, _ body: () -> OpaquePointer?) throws -> SSHResult<OpaquePointer> {
        if let pointer = body() { return .done(pointer) }
        let code = libssh2_session_last_errno(session)
        if code == LIBSSH2_ERROR_EAGAIN { return .wouldBlock }
        throw failure(session, function, code: code)
    }

    static func failure(_ session: SessionHandle, _ function: String, code: Int32) -> LibSSH2Failure {
        LibSSH2Failure(function: function, code: code, message: lastErrorMessage(session))
    }

    static func lastErrorMessage(_ session: SessionHandle) -> String {
        var message: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        _ = libssh2_session_last_error(session, &message, &length, 0)
        guard let message, length > 0 else { return "unknown error" }
        return String(decoding: UnsafeRawBufferPointer(start: message, count: Int(length)), as: UTF8.self)
    }
}

extension LibSSH2Failure {
    /// Errors that concern one channel only (refused open, channel closed by the peer …); anything else means
    /// the session itself is broken.
    var isChannelLevel: Bool {
        [LIBSSH2_ERROR_CHANNEL_FAILURE, LIBSSH2_ERROR_CHANNEL_REQUEST_DENIED, LIBSSH2_ERROR_CHANNEL_UNKNOWN,
         LIBSSH2_ERROR_CHANNEL_WINDOW_EXCEEDED, LIBSSH2_ERROR_CHANNEL_PACKET_EXCEEDED, LIBSSH2_ERROR_CHANNEL_CLOSED,
         LIBSSH2_ERROR_CHANNEL_EOF_SENT].contains(code)
    }
}
