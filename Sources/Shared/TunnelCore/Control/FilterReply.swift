import FTPCore

/// The replies the control-stream filter gives the client itself. Single lines, no CRLF.
enum FilterReply {
    static let authRefused = "\(ReplyCode.authNotAvailable) TLS is not used inside the SSH tunnel, which already encrypts this session; continue with plain FTP."
    static let epsvAllAccepted = "\(ReplyCode.commandOK) EPSV ALL command successful."
    static let portSyntax = "\(ReplyCode.parameterSyntaxError) Syntax error in PORT arguments."
    static let eprtSyntax = "\(ReplyCode.parameterSyntaxError) Syntax error in EPRT arguments."
    static let unsupportedFamily = "\(ReplyCode.networkProtocolNotSupported) Network protocol not supported, use (1,2)"
    static let lineTooLong = "\(ReplyCode.syntaxError) Command line too long."
    static let unreadablePassiveReply = "\(ReplyCode.cannotOpenData) Cannot open data connection: ftptunnel could not read the server's passive-mode reply (see the ftptunnel log)."

    static func refusedAfterEPSVAll(_ verb: String) -> String {
        "\(ReplyCode.badSequence) \(verb) not allowed after EPSV ALL."
    }

    static func longAddressUnsupported(_ verb: String) -> String {
        "\(ReplyCode.notImplemented) \(verb) is not supported through the tunnel; use PASV, EPSV, PORT or EPRT."
    }

    static func activeAccepted(verb: String) -> String {
        "\(ReplyCode.commandOK) \(verb) command successful (converted to passive mode through the tunnel)."
    }

    static func activeNotLoopback(verb: String) -> String {
        "\(ReplyCode.parameterSyntaxError) \(verb) refused: ftptunnel connects data connections only to loopback addresses (127.0.0.0/8, ::1)."
    }

    static func activePrivilegedPort(verb: String) -> String {
        "\(ReplyCode.parameterSyntaxError) \(verb) refused: the data port must be 1024 or higher."
    }

    static func activeNotOwnSocket(verb: String) -> String {
        "\(ReplyCode.parameterSyntaxError) \(verb) refused: active mode connects only to a port your own user listens on, on your own address."
    }

    static func activeConnectFailed(_ reason: String) -> String {
        "\(ReplyCode.cannotOpenData) Cannot open data connection to the address the client announced (\(reason))."
    }

    static func activeServerRefused(code: Int, verb: String, server: String) -> String {
        "\(code) \(verb) failed: active mode through the tunnel needs passive mode on the server, which answered: \(server)"
    }

    /// The words of `listenerFailed` that tell a local failure from the server's own 425 (`ftptunnel check`).
    static let listenerFailedMarker = "ftptunnel could not open a local listener"

    static func listenerFailed(_ reason: String) -> String {
        "\(ReplyCode.cannotOpenData) Cannot open data connection: \(listenerFailedMarker) (\(reason))."
    }
}

extension FilterReply {
    static func activeRefusedInFixedMode(_ verb: String) -> String {
        "\(ReplyCode.notImplemented) \(verb) (active mode) cannot work in fixed mode: the server would connect to its own side of the tunnel. Use passive mode, or Mode rewrite (the default), which converts active mode."
    }
}
