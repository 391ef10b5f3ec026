/// Why a further session (of the pool, `Sessions N`, or opened later: reconnecting, or past a stalled channel
/// open; `session` 0) could not join the tunnel.
enum SessionPoolError: Error, CustomStringConvertible {
    /// A later connection to the same server presented another host key: possibly a man-in-the-middle.
    case hostKeyDiffers(session: Int, first: String, presented: String)
    /// The remembered credential was refused on a later session.
    case credentialRefused(method: String)

    /// The number `SSHConnector.connectAnother` gets for sessions opened after start.
    static let laterSession = 0

    var description: String {
        switch self {
        case .hostKeyDiffers(Self.laterSession, let first, let presented):
            return "a new connection to the SSH server (reconnecting) presented host key \(presented), but the tunnel verified \(first) when it started; someone could be intercepting connections, so the tunnel stopped and closed its listeners (if the server's key really changed, check it and start ftptunnel again to verify the new key)"
        case .hostKeyDiffers(let session, let first, let presented):
            return "SSH session \(session) of the pool presented host key \(presented), but the first session verified \(first); someone could be intercepting connections, so nothing was forwarded (check the server, or use Sessions 1)"
        case .credentialRefused(let method):
            return "the server refused the \(method) that authenticated the first session when a further session of the pool reused it; check the server's MaxSessions/MaxStartups and authentication limits, or use Sessions 1"
        }
    }
}
