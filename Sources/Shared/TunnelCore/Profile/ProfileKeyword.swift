/// Every keyword a profile or `-o` accepts, spelled as OpenSSH spells it where OpenSSH has one.
public enum ProfileKeyword: String, CaseIterable, Sendable {
    // SSH side (also read from ~/.ssh/config)
    case hostName = "HostName"
    case user = "User"
    case port = "Port"
    case identityFile = "IdentityFile"
    case identitiesOnly = "IdentitiesOnly"
    /// A user certificate to offer (repeatable), paired with the identity file or agent key it certifies.
    case certificateFile = "CertificateFile"
    /// The ssh-agent socket: `none`, `SSH_AUTH_SOCK` (the default) or a path.
    case identityAgent = "IdentityAgent"
    case userKnownHostsFile = "UserKnownHostsFile"
    case strictHostKeyChecking = "StrictHostKeyChecking"
    case serverAliveInterval = "ServerAliveInterval"
    case serverAliveCountMax = "ServerAliveCountMax"
    case connectTimeout = "ConnectTimeout"
    case ciphers = "Ciphers"
    case macs = "MACs"
    case kexAlgorithms = "KexAlgorithms"
    case hostKeyAlgorithms = "HostKeyAlgorithms"
    /// Bastions the SSH connection goes through (`[user@]host[:port]`, comma-separated), or `none`.
    case proxyJump = "ProxyJump"
    /// A command whose stdin/stdout carry the SSH connection (`sh -c`), or `none`.
    case proxyCommand = "ProxyCommand"
    // FTP and local side (ftptunnel's own)
    case ftpHost = "FTPHost"
    case ftpPort = "FTPPort"
    case localPort = "LocalPort"
    case passivePorts = "PassivePorts"
    case mode = "Mode"
    /// Mode sftp: the remote directory the FTP client sees as `/` (default: the login directory).
    case sftpRoot = "SFTPRoot"
    /// Mode sftp: uploads appear when complete (atomic, default) or under their name from the first byte (immediate).
    case sftpUploads = "SFTPUploads"
    /// Mode sftp: the most SFTP channels one upload is striped over (1: one channel, no striping).
    case sftpStreams = "SFTPStreams"
    case dataWindow = "DataWindow"
    /// The most `DataWindow auto` grants one channel.
    case dataWindowMax = "DataWindowMax"
    case passiveHost = "PassiveHost"
    case sessions = "Sessions"
    /// Reconnect after the SSH session is lost (yes, default) or exit (no).
    case reconnect = "Reconnect"
    /// Failed reconnect attempts in a row before giving up (0: never give up).
    case reconnectAttempts = "ReconnectAttempts"
    /// Rewrite mode: open a data channel as soon as the server announces its passive port (yes) or when the client
    /// connects (no, default).
    case earlyDataChannel = "EarlyDataChannel"
    case bindAddress = "BindAddress"
    /// `GatewayPorts yes` is `BindAddress 0.0.0.0`; `no` is `BindAddress 127.0.0.1`.
    case gatewayPorts = "GatewayPorts"

    private static let byLowercasedName: [String: ProfileKeyword] =
        Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue.lowercased(), $0) })

    /// Case-insensitive lookup, as in ssh_config.
    public static func named(_ name: String) -> ProfileKeyword? { byLowercasedName[name.lowercased()] }

    /// Whether ~/.ssh/config may set it. `BindAddress` and `GatewayPorts` mean other things there (the SSH
    /// connection's source address; `ssh -L` listeners) and never open ftptunnel's listeners to the network.
    public var readFromSSHConfig: Bool { ProfileKeyword.sshConfigKeywords.contains(self) }

    static let sshConfigKeywords: Set<ProfileKeyword> = [
        .hostName, .user, .port, .identityFile, .identitiesOnly, .certificateFile, .identityAgent, .userKnownHostsFile, .strictHostKeyChecking,
        .serverAliveInterval, .serverAliveCountMax, .connectTimeout, .ciphers, .macs, .kexAlgorithms, .hostKeyAlgorithms,
        .proxyJump, .proxyCommand,
    ]

    /// Keywords that would carry a secret. Rejected everywhere with an explanation instead of "unknown keyword".
    public static func isPasswordKeyword(_ name: String) -> Bool {
        let lower = name.lowercased()
        if lower.hasSuffix("authentication") { return false }  // e.g. PasswordAuthentication: not a secret
        return ["password", "passwd", "passphrase", "secret"].contains { lower.contains($0) } || lower == "pass"
            || lower == "ftppass"
    }

    /// Block keywords of ssh_config; never valid in a profile or `-o`.
    public static func isBlockKeyword(_ name: String) -> Bool {
        ["host", "match", "include"].contains(name.lowercased())
    }

    /// The known keyword closest to a misspelt one (edit distance ≤ 2, or a case-insensitive prefix).
    public static func suggestion(for name: String) -> String? {
        let lower = Array(name.lowercased())
        var best: (ProfileKeyword, Int)?
        for keyword in allCases {
            let distance = editDistance(lower, Array(keyword.rawValue.lowercased()))
            if distance <= max(2, lower.count / 4), distance < (best?.1 ?? .max) { best = (keyword, distance) }
        }
        return best?.0.rawValue
    }

    private static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, ca) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, cb) in b.enumerated() {
                current[j + 1] = Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (ca == cb ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
