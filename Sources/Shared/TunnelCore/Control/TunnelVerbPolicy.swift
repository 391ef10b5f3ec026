import FTPCore

/// Which client commands may reach the FTP server through the tunnel, in fixed and in rewrite mode: an allow-list.
///
/// The tunnel carries the control connection and the data connections it set up itself (fixed mode: the
/// forwarded passive ports; rewrite mode: one channel per rewritten 227/229). A command that makes the server
/// connect out (PORT, EPRT, LPRT) or open a data listener whose reply the tunnel does not forward or rewrite (LPSV,
/// SPSV, P@SW) would move data outside SSH or to the server's own side of the tunnel, so the tunnel answers it
/// itself. So does every verb it does not know: a server extension could do either, and "passed because nobody
/// listed it" is how LPRT and LPSV once reached servers in fixed mode. The known verbs are those of RFC 959, 775,
/// 2228, 2389, 2428, 2640, 3659 and 7151 and the common extensions of vsftpd, ProFTPD, Pure-FTPd and FileZilla
/// Server. Pure: no I/O.
public enum TunnelVerbPolicy {
    /// What to do with one client command line.
    public enum Decision: Equatable, Sendable {
        /// Send it to the server (rewrite mode may still convert PORT/EPRT or rewrite the PASV/EPSV reply).
        case forward
        /// Active mode: PORT, EPRT (RFC 2428) or LPRT (RFC 1639). Rewrite mode converts the first two.
        case active(String)
        /// A passive-mode variant whose listener the tunnel would not carry (LPSV, SPSV, P@SW).
        case passiveOutsideTunnel(String)
        /// A verb the tunnel does not know.
        case unknown(String)
        /// Not a command line at all (no verb).
        case unreadable
    }

    public static func decide(_ line: ArraySlice<UInt8>) -> Decision {
        guard let verb = verb(of: line) else { return .unreadable }
        if activeVerbs.contains(verb) { return .active(verb) }
        if passiveVerbsOutsideTunnel.contains(verb) { return .passiveOutsideTunnel(verb) }
        return forwardedVerbs.contains(verb) ? .forward : .unknown(verb)
    }

    /// The line's first word, upper-cased, when it looks like a verb (1 to 8 ASCII letters, digits or `@`, after
    /// Telnet abort sequences): nil for anything else.
    public static func verb(of line: ArraySlice<UInt8>) -> String? {
        let cleaned = FTPCommandLine.stripTelnet(Array(line))
        let word = cleaned.prefix(while: { $0 != UInt8(ascii: " ") && $0 != 13 && $0 != 10 })
        guard (1...8).contains(word.count), word.allSatisfy(isVerbByte) else { return nil }
        return String(decoding: word, as: UTF8.self).uppercased()
    }

    /// The reply the tunnel gives in place of the server, for every decision but `.forward` (fixed mode words
    /// PORT/EPRT/LPRT its own way: it does not convert active mode). Short: the filter bounds what a line may
    /// expand to.
    public static func refusal(for decision: Decision) -> String? {
        switch decision {
        case .forward: return nil
        case .active(let verb), .passiveOutsideTunnel(let verb):
            return FilterReply.longAddressUnsupported(verb)
        case .unknown(let verb):
            return "\(ReplyCode.notImplemented) \(verb) not implemented by the tunnel."
        case .unreadable:
            return "\(ReplyCode.syntaxError) Syntax error, command unrecognized."
        }
    }

    static let activeVerbs: Set<String> = ["PORT", "EPRT", "LPRT"]
    static let passiveVerbsOutsideTunnel: Set<String> = ["LPSV", "SPSV", "P@SW"]

    /// Verbs that never open a data path by themselves (PASV and EPSV open the one the tunnel carries).
    static let forwardedVerbs: Set<String> = [
        // RFC 959
        "USER", "PASS", "ACCT", "CWD", "CDUP", "SMNT", "REIN", "QUIT", "PASV", "TYPE", "STRU", "MODE", "RETR",
        "STOR", "STOU", "APPE", "ALLO", "REST", "RNFR", "RNTO", "ABOR", "DELE", "RMD", "MKD", "PWD", "LIST", "NLST",
        "SITE", "SYST", "STAT", "HELP", "NOOP",
        // RFC 775
        "XCWD", "XCUP", "XMKD", "XRMD", "XPWD",
        // RFC 2228 (fixed mode steps aside after AUTH; rewrite mode answers AUTH itself)
        "AUTH", "ADAT", "PROT", "PBSZ", "CCC", "MIC", "CONF", "ENC",
        // RFC 2389, 2428, 2640, 3659, 7151
        "FEAT", "OPTS", "EPSV", "LANG", "MDTM", "SIZE", "MLST", "MLSD", "HOST",
        // Common extensions: timestamps, client names, PRET (announces the next transfer), free space, checksums, ranges.
        "MFMT", "MFCT", "MFF", "CLNT", "PRET", "AVBL", "CSID", "DSIZ", "HASH", "RANG", "XCRC", "XMD5", "MD5", "MMD5",
        "XSHA", "XSHA1", "XSHA256", "XSHA512",
    ]

    private static func isVerbByte(_ byte: UInt8) -> Bool {
        (65...90).contains(byte) || (97...122).contains(byte) || (48...57).contains(byte) || byte == UInt8(ascii: "@")
    }
}
