import CLibSSH2
import Foundation

/// One failed SFTP call: the function, the path, libssh2's code, the SFTP status the server sent (for
/// `LIBSSH2_ERROR_SFTP_PROTOCOL`) and libssh2's text.
struct SFTPFailure: Error, CustomStringConvertible {
    let function: String
    let path: [UInt8]?
    let code: Int32
    /// `LIBSSH2_FX_*` when the server answered with an error status.
    let status: UInt?
    let message: String

    var description: String {
        let shown = path.map { " on \(String(decoding: $0, as: UTF8.self))" } ?? ""
        return "\(function)\(shown) failed: \(statusText ?? message)"
    }

    /// The server's status in words, when there is one.
    var statusText: String? {
        guard let status else { return nil }
        switch status {
        case UInt(LIBSSH2_FX_NO_SUCH_FILE), UInt(LIBSSH2_FX_NO_SUCH_PATH): return "no such file or directory"
        case UInt(LIBSSH2_FX_PERMISSION_DENIED): return "permission denied"
        case UInt(LIBSSH2_FX_FILE_ALREADY_EXISTS): return "file exists"
        case UInt(LIBSSH2_FX_WRITE_PROTECT): return "read-only file system"
        case UInt(LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM): return "no space left on the server"
        case UInt(LIBSSH2_FX_QUOTA_EXCEEDED): return "quota exceeded on the server"
        case UInt(LIBSSH2_FX_DIR_NOT_EMPTY): return "directory not empty"
        case UInt(LIBSSH2_FX_NOT_A_DIRECTORY): return "not a directory"
        case UInt(LIBSSH2_FX_OP_UNSUPPORTED): return "operation not supported by the SFTP server"
        case UInt(LIBSSH2_FX_FAILURE): return "the SFTP server reported a failure"
        default: return "SFTP status \(status)"
        }
    }

    /// SSH_FX_FAILURE: all OpenSSH says for most errno values (ENOSPC, EDQUOT, EEXIST on rename …).
    var isGenericFailure: Bool { status == UInt(LIBSSH2_FX_FAILURE) }

    /// True when the SSH connection itself is gone or stuck (not just this request).
    var isConnectionLost: Bool {
        if let status { return status == UInt(LIBSSH2_FX_CONNECTION_LOST) || status == UInt(LIBSSH2_FX_NO_CONNECTION) }
        return [LIBSSH2_ERROR_SOCKET_SEND, LIBSSH2_ERROR_SOCKET_RECV, LIBSSH2_ERROR_SOCKET_DISCONNECT,
                LIBSSH2_ERROR_SOCKET_TIMEOUT, LIBSSH2_ERROR_TIMEOUT, LIBSSH2_ERROR_CHANNEL_CLOSED,
                LIBSSH2_ERROR_CHANNEL_EOF_SENT, LIBSSH2_ERROR_EAGAIN].contains(code)
    }

    /// The SSH connection itself broke or stopped answering (not just this channel): no channel of it works.
    var breaksSession: Bool {
        status == nil && [LIBSSH2_ERROR_SOCKET_SEND, LIBSSH2_ERROR_SOCKET_RECV, LIBSSH2_ERROR_SOCKET_DISCONNECT,
                          LIBSSH2_ERROR_SOCKET_TIMEOUT, LIBSSH2_ERROR_TIMEOUT].contains(code)
    }

    /// The closest errno, so the FTP engine picks the reply (550, 552, 421 …).
    var errnoEquivalent: Int32 {
        if isConnectionLost { return ECONNRESET }
        switch status {
        case UInt(LIBSSH2_FX_NO_SUCH_FILE)?, UInt(LIBSSH2_FX_NO_SUCH_PATH)?: return ENOENT
        case UInt(LIBSSH2_FX_PERMISSION_DENIED)?: return EACCES
        case UInt(LIBSSH2_FX_WRITE_PROTECT)?: return EROFS
        case UInt(LIBSSH2_FX_FILE_ALREADY_EXISTS)?: return EEXIST
        case UInt(LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM)?: return ENOSPC
        case UInt(LIBSSH2_FX_QUOTA_EXCEEDED)?: return EDQUOT
        case UInt(LIBSSH2_FX_DIR_NOT_EMPTY)?: return ENOTEMPTY
        case UInt(LIBSSH2_FX_NOT_A_DIRECTORY)?: return ENOTDIR
        case UInt(LIBSSH2_FX_OP_UNSUPPORTED)?: return ENOTSUP
        default: return EIO
        }
    }

    /// A non-blocking SFTP exchange that saw no progress for `seconds` (the server or the connection is stuck).
    static func stalled(_ function: String, path: [UInt8]?, seconds: Double) -> SFTPFailure {
        SFTPFailure(function: function, path: path, code: LIBSSH2_ERROR_TIMEOUT, status: nil,
                    message: "no answer from the SSH server for \(Int(seconds)) s")
    }

    /// Runs a libssh2 SFTP call through `LibSSH2` and turns its failure into an `SFTPFailure`
    /// (with the server's status when libssh2 reports an SFTP protocol error).
    static func wrap<T>(_ function: String, path: [UInt8]?, sftp: OpaquePointer?, session: SessionHandle,
                        _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let failure as LibSSH2Failure {
            let status = failure.code == LIBSSH2_ERROR_SFTP_PROTOCOL ? sftp.map { libssh2_sftp_last_error($0) } : nil
            throw SFTPFailure(function: function, path: path, code: failure.code, status: status, message: failure.message)
        }
    }
}
