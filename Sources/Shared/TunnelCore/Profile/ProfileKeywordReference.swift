/// What each profile keyword accepts and what applies without it: the table ftptunnel.conf(5) and the keyword
/// table of profiles/README.md are generated from (`ProfileManualPage`). The switches are exhaustive, so a new
/// keyword does not compile until it is documented here. Text uses `backticks` for literal words.
extension ProfileKeyword {
    /// Where a keyword belongs in the manual: the SSH connection (also read from ~/.ssh/config), or ftptunnel's own.
    public enum ManualSection: String, CaseIterable, Sendable {
        case ssh = "SSH CONNECTION"
        case tunnel = "FTP AND LOCAL SIDE"
    }

    public var manualSection: ManualSection { readFromSSHConfig ? .ssh : .tunnel }

    /// The accepted values, with what they do.
    public var valueDescription: String {
        switch self {
        case .hostName: return "SSH server name or address"
        case .user: return "login on the SSH server"
        case .port: return "1-65535"
        case .identityFile:
            return "private key path (ed25519, ECDSA or RSA; OpenSSH or PEM format); repeatable (every file is tried); "
                + "`~` and `%h %p %r %u %d %n %i %l %L %%` expanded"
        case .identitiesOnly: return "`yes` or `no`: use only the identity files, not every key ssh-agent offers"
        case .certificateFile:
            return "user certificate path (ECDSA; libssh2 1.10 cannot log in with ed25519 or RSA certificates, which are skipped with a note); repeatable; "
                + "offered first, with the IdentityFile or agent key it certifies; `~` and the `%` tokens of IdentityFile expanded"
        case .identityAgent:
            return "`none` (no agent), `SSH_AUTH_SOCK` (the environment variable), or the agent socket's path (`~` expanded)"
        case .userKnownHostsFile: return "one or more paths, space-separated"
        case .strictHostKeyChecking:
            return "`yes`, `accept-new`, `ask`, `no` (`off` = `no`); a changed host key is refused whatever the policy"
        case .serverAliveInterval:
            return "seconds (`30`, `5m`), `0` = off: after this long without anything from the server, send a keepalive "
                + "it must answer (below 2 acts as 2). Never expires: libssh2 1.10 keeps every reply, so after 768 "
                + "keepalives the session is replaced once nothing runs on it (idle rewrite-mode control connections "
                + "resume on the new one; a fixed-mode control connection or a transfer counts as running). Mode sftp: "
                + "an FTP session idle this long sends an SFTP request that must be answered within interval × count"
        case .serverAliveCountMax:
            return "0-1000: unanswered keepalives in a row before the session is dead (after interval × (count + 1) s "
                + "of silence; then Reconnect applies)"
        case .connectTimeout: return "seconds, 1-3600"
        case .ciphers: return "comma-separated cipher names, most preferred first (no `+`/`-`/`^` edits)"
        case .macs: return "comma-separated MAC names, most preferred first (no `+`/`-`/`^` edits)"
        case .kexAlgorithms: return "comma-separated key exchange names, most preferred first (no `+`/`-`/`^` edits)"
        case .hostKeyAlgorithms: return "comma-separated host key types, most preferred first (no `+`/`-`/`^` edits)"
        case .proxyJump:
            return "`none`, or bastions as `[user@]host[:port]`, comma-separated, nearest first (`-J`). Each hop takes "
                + "User, Port, HostName, IdentityFile, UserKnownHostsFile and ConnectTimeout from its own `Host` block of "
                + "~/.ssh/config (without one, the known_hosts files and ConnectTimeout of the destination); every hop's "
                + "host key is checked under the destination's StrictHostKeyChecking. The first value obtained of "
                + "ProxyJump and ProxyCommand wins"
        case .proxyCommand:
            return "`none`, or a command run with `sh -c` whose stdin/stdout carry the SSH connection (e.g. "
                + "`ssh -W %h:%p bastion`); `%h %p %r %n %%` expanded; its stderr passes through"
        case .ftpHost: return "FTP server as seen from the SSH server"
        case .ftpPort: return "1-65535"
        case .localPort: return "local control port, 0-65535 (`0` = any free port, the ready line says which)"
        case .passivePorts: return "`LO-HI` (or one port)"
        case .mode:
            return "`rewrite` or `fixed` (forward to an FTP server), or `sftp` (no FTP server: ftptunnel serves FTP on "
                + "loopback and works over the host's SFTP; FTPHost, FTPPort, DataWindow, Sessions and Reconnect do not apply)"
        case .sftpRoot:
            return "`Mode sftp`: the remote directory FTP clients see as `/`; relative paths start at the login directory"
        case .sftpUploads:
            return "`Mode sftp`: `atomic` or `immediate`. `atomic`: an upload is written under a temporary name and "
                + "renamed into place when complete; a LIST during it does not show it, and a failed or cut upload leaves "
                + "the previous file intact (ProFTPD's HiddenStores). `immediate`: written under its own name from the "
                + "first byte, as vsftpd and ProFTPD do by default, so a LIST during the upload shows it (curlftpfs "
                + "needs this); an existing file is cut only at the end of the upload, and a failed or cut upload leaves "
                + "the bytes that arrived (STOR: the received prefix; REST+STOR and APPE: the kept part plus them; an "
                + "upload that received nothing leaves an existing file untouched). SFTP has no locks: two uploads to "
                + "one file at once mix"
        case .dataWindow:
            return "receive window per data channel: `auto`, or a fixed size in bytes or K/M/G, 64K-1G. `auto` starts at "
                + "2M (OpenSSH's window) and doubles once per round trip while a transfer may be window-limited (its "
                + "client consumed at least half a window in that round trip and the channel kept up), up to "
                + "`DataWindowMax`; a slow client and a short round trip keep the window at 2M"
        case .dataWindowMax: return "the most `DataWindow auto` grants one channel, 64K-1G"
        case .passiveHost: return "`ignore` (replace the address in 227 replies by FTPHost) or `server` (trust it)"
        case .sessions: return "SSH sessions carrying the connections (control and data, each to the least busy), 1-16"
        case .reconnect:
            return "`yes` or `no`: after the SSH session is lost, keep every listener and reconnect (backoff 1 s doubling "
                + "to 30 s, with jitter; never after an authentication failure or another host key); rewrite-mode control "
                + "connections resume where they were. `no`: exit with status 6. Mode sftp: each FTP session's SSH "
                + "session is replaced the same way and the FTP session goes on; `no`: that FTP session gets 421"
        case .sftpStreams:
            return "`Mode sftp`, 1-64: the most SFTP channels (on the FTP session's SSH session, shared with up to 3 other "
                + "FTP sessions) one upload is written through at once, each carrying its own ranges of the file. sshd "
                + "grants every channel a fixed 2 MiB window, so one channel uploads at most 2 MiB per round trip; an upload "
                + "starts on one channel and doubles the channels per round trip while they are window-limited (the channels "
                + "an earlier upload of the FTP session kept join at once; once they all write, the FTP session's own "
                + "channel steps aside). sshd's MaxSessions (default 10) bounds "
                + "the channels of one SSH session; a refused channel only stops the growth. `1` = one channel, as SFTP clients do"
        case .earlyDataChannel:
            return "`yes` or `no`, rewrite mode with `Sessions 1`: open a data connection's channel as soon as the "
                + "server's 227/229 reply arrives (the server already listens), so its round trip overlaps the client's "
                + "own; the client's connection takes it over. At most one waits per control connection; it is closed "
                + "with its listener (a newer PASV/EPSV, the end of the control connection, 60 s unused). Meant for an "
                + "FTP server some way behind sshd; with the server on the SSH host it gains nothing measurable"
        case .reconnectAttempts:
            return "failed reconnect attempts in a row before giving up with status 6, 0-1000000 (`0` = never give up)"
        case .bindAddress: return "numeric address the local listeners bind (`localhost`, `*` accepted)"
        case .gatewayPorts: return "`yes` = `BindAddress 0.0.0.0`, `no` = `BindAddress 127.0.0.1`"
        }
    }

    /// What applies when no source sets the keyword.
    public var defaultDescription: String {
        let settings = TunnelSettings(sshHost: "", user: "")
        switch self {
        case .hostName: return "the name given as DEST"
        case .user: return "the local user name (`$USER`)"
        case .port: return "\(settings.sshPort)"
        case .identityFile: return "ssh-agent, then `~/.ssh/id_ed25519`, `~/.ssh/id_ecdsa`, `~/.ssh/id_rsa`"
        case .identitiesOnly: return settings.identitiesOnly ? "yes" : "no"
        case .certificateFile: return "`KEY-cert.pub` beside each IdentityFile, and certificates the agent holds"
        case .identityAgent: return "`SSH_AUTH_SOCK`"
        case .userKnownHostsFile: return "`\(SettingsResolver.defaultKnownHosts)`"
        case .strictHostKeyChecking: return "`ask` on a terminal, `yes` without one"
        case .serverAliveInterval:
            let interval = settings.serverAliveInterval, count = settings.serverAliveCountMax
            return "\(interval) (OpenSSH's is 0; on here so that a tunnel left running notices a server that still "
                + "acknowledges TCP but no longer answers: after \(interval) × (\(count) + 1) = \(interval * (count + 1)) s "
                + "of silence it reconnects)"
        case .serverAliveCountMax: return "\(settings.serverAliveCountMax)"
        case .connectTimeout: return "the system's TCP timeout"
        case .ciphers, .macs, .kexAlgorithms: return "libssh2's preference"
        case .hostKeyAlgorithms: return "the types known_hosts holds for the host, then libssh2's preference"
        case .proxyJump, .proxyCommand: return "none (a direct TCP connection)"
        case .ftpHost: return settings.ftpHost
        case .ftpPort: return "\(settings.ftpPort)"
        case .localPort: return "21 if it can be bound, else 2121"
        case .passivePorts:
            return "fixed mode: none (only the control connection is forwarded, and `show` warns); rewrite mode: any free local port"
        case .mode: return settings.mode.rawValue
        case .sftpRoot: return "the login directory"
        case .sftpUploads: return settings.sftpUploads.rawValue
        case .sftpStreams: return "\(settings.sftpStreams)"
        case .dataWindow: return settings.dataWindowAuto ? "auto" : "\(settings.dataWindow)"
        case .dataWindowMax: return "\(settings.dataWindowMax >> 20)M"
        case .passiveHost: return settings.passiveHost.rawValue
        case .sessions: return "\(settings.sessions)"
        case .reconnect: return settings.reconnect ? "yes" : "no"
        case .earlyDataChannel: return settings.earlyDataChannel ? "yes" : "no"
        case .reconnectAttempts: return "\(settings.reconnectAttempts)"
        case .bindAddress: return settings.bindAddress
        case .gatewayPorts: return "no"
        }
    }
}
