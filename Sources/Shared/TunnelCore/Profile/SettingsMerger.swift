import Foundation
import Posix

/// Merges settings layers (highest precedence first) into `TunnelSettings`, recording where every value came from,
/// then expands `~` and `%` tokens in paths using the merged host, port and users.
struct SettingsMerger {
    let layers: [SettingsLayer]
    let environment: [String: String]
    let home: String
    private(set) var notes: [String] = []
    /// ProxyJump's hops as written, for the resolver to resolve each from its own Host block.
    private(set) var jumps: Sourced<[JumpHost]>?
    private var entries: [ResolvedSettings.Entry] = []

    init(layers: [SettingsLayer], environment: [String: String], home: String) {
        self.layers = layers
        self.environment = environment
        self.home = home
    }

    private func pick<T>(_ path: KeyPath<SettingsLayer, Sourced<T>?>) -> Sourced<T>? {
        layers.lazy.compactMap { $0[keyPath: path] }.first
    }

    /// Records one line of `show`; `value` is quoted when it contains blanks, unless it is already a word list.
    private mutating func record(_ keyword: ProfileKeyword, _ value: String?, _ source: SettingSource,
                                 isWordList: Bool = false) {
        let shown = isWordList ? value : value.map(SettingsMerger.quoted)
        entries.append(.init(keyword: keyword.rawValue, value: shown, source: source.provenance))
    }

    static func quoted(_ word: String) -> String { word.contains(where: \.isWhitespace) ? "\"\(word)\"" : word }

    /// Picks `path` from the highest layer, else `fallback` with a default source, and records it.
    private mutating func take<T>(_ keyword: ProfileKeyword, _ path: KeyPath<SettingsLayer, Sourced<T>?>,
                                  default fallback: T, note: String = "", show: (T) -> String?) -> T {
        let picked = pick(path) ?? Sourced(fallback, .builtIn(note))
        record(keyword, show(picked.value), picked.source)
        return picked.value
    }

    mutating func merge(destinationHost: String, destinationText: String, alias: String,
                        extraHostName: Sourced<String>?, sshConfigHostName: Sourced<String>?,
                        profileHostName: Sourced<String>?) throws -> ResolvedSettings {
        // HostName: -o HostName, else ~/.ssh/config's translation of the alias, else the alias itself.
        let host: Sourced<String>
        if let extraHostName {
            host = extraHostName
        } else if let translated = sshConfigHostName {
            let expanded = try expand(translated, keyword: .hostName, tokens: ["h": alias])
            host = Sourced(expanded, translated.source)
            if let profileHostName {
                notes.append("\(profileHostName.source): HostName \(alias) is an ~/.ssh/config alias; "
                             + "connecting to \(expanded) (\(translated.source))")
            }
        } else if let profileHostName {
            host = profileHostName
        } else {
            host = Sourced(destinationHost, .destination(destinationText))
        }
        record(.hostName, host.value, host.source)

        let localUser = SettingsResolver.localUser(environment)
        let user = take(.user, \.user, default: localUser, note: "local user name") { $0 }
        let port = take(.port, \.port, default: SettingsResolver.defaultSSHPort) { String($0) }
        var settings = TunnelSettings(sshHost: host.value, user: user)
        settings.sshPort = port

        let localHost = SettingsMerger.localHostName()
        let tokens: [Character: String] = ["h": host.value, "p": String(port), "r": user, "u": localUser,
                                           "d": home, "n": alias, "i": String(PosixIdentity.userID), "l": localHost,
                                           "L": String(localHost.prefix { $0 != "." })]
        switch pick(\.proxy) {
        case let proxy? where proxy.value != .direct:
            if case .command(let template) = proxy.value {
                settings.proxyCommand = try expand(Sourced(template, proxy.source), keyword: .proxyCommand,
                                                   tokens: ["h": host.value, "p": String(port), "r": user, "n": alias],
                                                   tilde: false)
                record(.proxyCommand, settings.proxyCommand, proxy.source, isWordList: true)
            } else {
                if case .jump(let hops) = proxy.value { jumps = Sourced(hops, proxy.source) }
                record(.proxyJump, proxy.value.text, proxy.source)
            }
        case let proxy:
            record(.proxyJump, nil, proxy?.source ?? .builtIn("a direct TCP connection"))
        }

        var identities: [Sourced<String>] = []
        for layer in layers {
            for identity in layer.identityFiles {
                let expanded = Sourced(try expand(identity, keyword: .identityFile, tokens: tokens), identity.source)
                if !identities.contains(where: { $0.value == expanded.value }) { identities.append(expanded) }
            }
        }
        settings.identityFiles = identities.map(\.value)
        if identities.isEmpty {
            record(.identityFile, nil, .builtIn("ssh-agent, then ~/.ssh/id_ed25519, ~/.ssh/id_ecdsa and ~/.ssh/id_rsa"))
        }
        for identity in identities { record(.identityFile, identity.value, identity.source) }

        settings.identitiesOnly = take(.identitiesOnly, \.identitiesOnly, default: false, show: yesNo)
        var certificates: [Sourced<String>] = []
        for layer in layers {
            for certificate in layer.certificateFiles {
                let expanded = Sourced(try expand(certificate, keyword: .certificateFile, tokens: tokens), certificate.source)
                if !certificates.contains(where: { $0.value == expanded.value }) { certificates.append(expanded) }
            }
        }
        settings.certificateFiles = certificates.map(\.value)
        if certificates.isEmpty { record(.certificateFile, nil, .builtIn("KEY-cert.pub beside each IdentityFile")) }
        for certificate in certificates { record(.certificateFile, certificate.value, certificate.source) }
        if let agent = pick(\.identityAgent) {
            let value = ["none", "SSH_AUTH_SOCK"].contains(agent.value)
                ? agent.value : try expand(agent, keyword: .identityAgent, tokens: tokens)
            settings.identityAgent = value
            record(.identityAgent, value, agent.source)
        } else {
            record(.identityAgent, nil, .builtIn("SSH_AUTH_SOCK"))
        }
        let knownHosts = pick(\.knownHostsFiles) ?? Sourced([SettingsResolver.defaultKnownHosts], .builtIn(""))
        settings.knownHostsFiles = try knownHosts.value.map {
            try expand(Sourced($0, knownHosts.source), keyword: .userKnownHostsFile, tokens: tokens)
        }
        record(.userKnownHostsFile, settings.knownHostsFiles.map(SettingsMerger.quoted).joined(separator: " "),
               knownHosts.source, isWordList: true)
        settings.strictHostKeyChecking = take(.strictHostKeyChecking, \.strictHostKeyChecking?.optional, default: nil,
                                              note: "ask on a terminal, yes without one") { $0?.rawValue }
        settings.serverAliveInterval = take(.serverAliveInterval, \.serverAliveInterval,
                                            default: TunnelSettings.defaultServerAliveInterval,
                                            note: TunnelSettings.serverAliveDefaultNote) { String($0) }
        settings.serverAliveCountMax = take(.serverAliveCountMax, \.serverAliveCountMax, default: 3) { String($0) }
        settings.connectTimeout = take(.connectTimeout, \.connectTimeout?.optional, default: nil,
                                       note: "the system's TCP timeout") { $0.map(String.init) }
        let libssh2Defaults = "libssh2's preference"
        settings.ciphers = take(.ciphers, \.ciphers?.optional, default: nil, note: libssh2Defaults, show: commaList)
        settings.macs = take(.macs, \.macs?.optional, default: nil, note: libssh2Defaults, show: commaList)
        settings.kexAlgorithms = take(.kexAlgorithms, \.kexAlgorithms?.optional, default: nil, note: libssh2Defaults,
                                      show: commaList)
        settings.hostKeyAlgorithms = take(.hostKeyAlgorithms, \.hostKeyAlgorithms?.optional, default: nil,
                                          note: "what known_hosts holds for the host", show: commaList)

        settings.ftpHost = take(.ftpHost, \.ftpHost, default: settings.ftpHost, note: "as seen from the SSH server") { $0 }
        settings.ftpPort = take(.ftpPort, \.ftpPort, default: settings.ftpPort) { String($0) }
        settings.localPort = take(.localPort, \.localPort?.optional, default: nil,
                                  note: "21 if it can be bound, else 2121") { $0.map(String.init) }
        settings.passivePorts = take(.passivePorts, \.passivePorts?.optional, default: nil,
                                     note: "any free local port per transfer; fixed mode needs a range") { $0?.description }
        settings.mode = take(.mode, \.mode, default: settings.mode) { $0.rawValue }
        if settings.mode == .fixed, settings.passivePorts == nil, let mode = pick(\.mode) {
            notes.append("\(mode.source): Mode fixed without PassivePorts forwards only the control connection, so "
                         + "transfers will fail — set PassivePorts to the server's passive port range")
        }
        let bind = pick(\.bindAddress) ?? Sourced(settings.bindAddress, .builtIn("loopback only"))
        settings.sftpRoot = take(.sftpRoot, \.sftpRoot?.optional, default: nil,
                                 note: "Mode sftp: the login directory") { $0 }
        settings.sftpUploads = take(.sftpUploads, \.sftpUploads, default: settings.sftpUploads,
                                    note: "Mode sftp: uploads appear when complete") { $0.rawValue }
        settings.sftpStreams = take(.sftpStreams, \.sftpStreams, default: settings.sftpStreams,
                                    note: "Mode sftp: channels per upload, grown while window-limited") { String($0) }
        if settings.mode == .sftp, !(bind.value.hasPrefix("127.") || bind.value == "::1" || bind.value == "localhost") {
            throw ProfileError.invalidValue(at: bind.source, keyword: ProfileKeyword.bindAddress.rawValue, value: bind.value,
                                            problem: "cannot be used with Mode sftp: the bridge serves the SSH account's files without an FTP password, to local users only",
                                            hint: "remove BindAddress/GatewayPorts (Mode sftp listens on 127.0.0.1 and ::1 only)")
        }
        let window = take(.dataWindow, \.dataWindow, default: nil,
                          note: "auto: from \(ValueParser.formatSize(TunnelSettings.autoWindowStart)) up to DataWindowMax") {
            $0.map(ValueParser.formatSize) ?? "auto"
        }
        settings.dataWindowAuto = window == nil
        settings.dataWindow = window ?? TunnelSettings.autoWindowStart
        settings.dataWindowMax = take(.dataWindowMax, \.dataWindowMax, default: settings.dataWindowMax,
                                      note: "with DataWindow auto") { ValueParser.formatSize($0) }
        settings.passiveHost = take(.passiveHost, \.passiveHost, default: settings.passiveHost,
                                    note: "the address in 227 replies is replaced by FTPHost") { $0.rawValue }
        settings.sessions = take(.sessions, \.sessions, default: settings.sessions) { String($0) }
        settings.reconnect = take(.reconnect, \.reconnect, default: settings.reconnect, show: yesNo)
        settings.earlyDataChannel = take(.earlyDataChannel, \.earlyDataChannel, default: settings.earlyDataChannel, show: yesNo)
        settings.reconnectAttempts = take(.reconnectAttempts, \.reconnectAttempts, default: settings.reconnectAttempts,
                                          note: "retry forever") { String($0) }
        settings.bindAddress = bind.value
        record(.bindAddress, bind.value, bind.source)
        if !bind.value.hasPrefix("127.") && bind.value != "::1" {
            notes.append("\(bind.source): local listeners bind \(bind.value), so other machines can reach them")
        }

        var resolved = ResolvedSettings(settings: settings, sources: [:], profilePath: nil)
        resolved.entries = entries
        resolved.hostAlias = alias
        resolved.pendingJumps = jumps
        for entry in entries {
            resolved.sources[entry.keyword] = resolved.sources[entry.keyword].map { "\($0), \(entry.source)" } ?? entry.source
        }
        return resolved
    }

    private func expand(_ path: Sourced<String>, keyword: ProfileKeyword, tokens: [Character: String],
                        tilde: Bool = true) throws -> String {
        do {
            let expander = PathExpander(home: home, tokens: tokens)
            return try tilde ? expander.expand(path.value) : expander.expandTokens(path.value)
        } catch let problem as ValueProblem {
            throw ProfileError.invalidValue(at: path.source, keyword: keyword.rawValue, value: path.value,
                                            problem: problem.problem, hint: problem.hint)
        }
    }

    static func localHostName() -> String {
        PosixHost.name() ?? "localhost"
    }

    private func yesNo(_ value: Bool) -> String { value ? "yes" : "no" }
    private func commaList(_ value: [String]?) -> String? { value?.joined(separator: ",") }
}

extension Sourced {
    /// The value wrapped in an Optional (for settings whose default is "not set").
    var optional: Sourced<Value?> { Sourced<Value?>(value, source) }
}
