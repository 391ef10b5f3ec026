import FTPCore

/// Everything `ftptunnel` needs to bring one site up, fully resolved
/// (command line > profile > ~/.ssh/config > defaults). Produced by the profile resolver,
/// consumed by the tunnel. Pure data.
public struct TunnelSettings: Sendable, Equatable {
    /// On by default, unlike OpenSSH (which keeps 0 for compatibility): a tunnel left running, such as the
    /// `ftptunnel@SITE` unit, must notice a server that stopped answering while TCP still looks fine, and
    /// autossh users set 15-30 s by hand for the same reason. 30 s × (3 + 1): a hung server is noticed in 2 min.
    public static let defaultServerAliveInterval = 30
    /// What `show` says of the default.
    public static let serverAliveDefaultNote = "on by default, unlike OpenSSH, so a long-running tunnel notices a hung server; 0 turns it off"

    /// How data connections are carried. See DESIGN 3.4.
    public enum Mode: String, Sendable, CaseIterable {
        /// Forward every port of `passivePorts` up front; the control stream is untouched (FTPS works).
        case fixed
        /// Read the control stream and open a data channel per 227/229 reply; PORT/EPRT converted.
        case rewrite
        /// No FTP server needed: ftptunnel serves FTP on loopback itself and does every file operation over
        /// SFTP on the SSH host (`sftpRoot` is the FTP client's `/`).
        case sftp
    }

    /// OpenSSH's StrictHostKeyChecking.
    public enum HostKeyPolicy: String, Sendable, CaseIterable {
        case yes, acceptNew = "accept-new", ask, no
    }

    /// Whether the IP inside a 227 reply is trusted (`PassiveHost server`) or replaced by FTPHost (`ignore`, default).
    public enum PassiveHostPolicy: String, Sendable, CaseIterable {
        case ignore, server
    }

    // SSH side
    public var sshHost: String
    public var sshPort: Int = 22
    public var user: String
    public var identityFiles: [String] = []
    public var identitiesOnly: Bool = false
    /// CertificateFile paths, expanded, in order.
    public var certificateFiles: [String] = []
    /// IdentityAgent: nil = `SSH_AUTH_SOCK`; `none`; or a socket path (expanded).
    public var identityAgent: String? = nil
    public var knownHostsFiles: [String] = []
    /// nil: `ask` on a terminal, `yes` without one.
    public var strictHostKeyChecking: HostKeyPolicy? = nil
    /// Seconds of silence before a keepalive the server must answer (0: off).
    public var serverAliveInterval: Int = TunnelSettings.defaultServerAliveInterval
    public var serverAliveCountMax: Int = 3
    public var connectTimeout: Int? = nil
    public var ciphers: [String]? = nil
    public var macs: [String]? = nil
    public var kexAlgorithms: [String]? = nil
    public var hostKeyAlgorithms: [String]? = nil
    /// ProxyJump: the bastions, nearest first, each resolved from its own `Host` block; empty: none.
    public var jumpHosts: [TunnelSettings] = []
    /// ProxyCommand with `%h %p %r %n %%` expanded, run with `sh -c`; nil: none. With `jumpHosts`, the first
    /// hop's own ProxyCommand.
    public var proxyCommand: String? = nil

    // FTP side (as seen from the SSH server)
    public var ftpHost: String = "127.0.0.1"
    public var ftpPort: Int = 21

    // Local side
    /// nil: 21 when the process may bind it, else 2121.
    public var localPort: Int? = nil
    /// Address the local listeners bind. Loopback unless the user explicitly asks otherwise.
    public var bindAddress: String = "127.0.0.1"
    public var passivePorts: PortRange? = nil
    public var mode: Mode = .rewrite
    /// Mode sftp: the remote directory FTP clients see as `/`; nil: the login directory.
    public var sftpRoot: String? = nil
    /// Mode sftp: whether an upload appears under its name when complete or from its first byte.
    public var sftpUploads: UploadVisibility = .atomic
    /// Mode sftp: the most SFTP channels one upload is striped over (grown while window-limited).
    public var sftpStreams: Int = 8
    public var passiveHost: PassiveHostPolicy = .ignore
    /// Receive window for data channels, in bytes: fixed, or the starting size when `dataWindowAuto`.
    public var dataWindow: Int = TunnelSettings.autoWindowStart
    /// `DataWindow auto` (the default): windows grow while a transfer is window-limited and its client keeps up.
    public var dataWindowAuto: Bool = true
    /// The largest window `DataWindow auto` grants one channel.
    public var dataWindowMax: Int = 128 << 20

    /// Where `DataWindow auto` starts: OpenSSH's own channel window.
    public static let autoWindowStart = 2 << 20
    /// SSH sessions carrying the connections (control and data).
    public var sessions: Int = 1
    /// Reconnect after a lost SSH session (listeners stay, rewrite-mode control connections resume).
    public var reconnect: Bool = true
    /// Failed attempts in a row before the tunnel gives up (exit 6); 0 = never.
    public var reconnectAttempts: Int = 0
    /// Rewrite mode: a data channel is opened when the server's 227/229 reply arrives, before the client connects
    /// (its open overlaps the client's own round trip); the client's connection adopts it. Off by default: with
    /// the FTP server on the SSH host it gains nothing measurable (the client's command travels alongside the open).
    public var earlyDataChannel: Bool = false

    /// `user@host:port`, as hops are named in messages.
    public var sshEndpoint: String {
        "\(user)@\(sshHost.contains(":") ? "[\(sshHost)]" : sshHost):\(sshPort)"
    }

    public init(sshHost: String, user: String) {
        self.sshHost = sshHost
        self.user = user
    }
}
