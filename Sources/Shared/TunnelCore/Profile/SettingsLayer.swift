import FTPCore

/// A value together with the place it came from.
public struct Sourced<Value: Sendable & Equatable>: Sendable, Equatable {
    public var value: Value
    public var source: SettingSource
    public init(_ value: Value, _ source: SettingSource) {
        self.value = value
        self.source = source
    }
}

/// The settings one source provides (command line, `-o`, a profile, or ~/.ssh/config), validated but not merged.
/// Paths are kept as written; `~` and `%` tokens are expanded once every layer is merged.
struct SettingsLayer: Sendable {
    /// What a second value for the same keyword means.
    enum Duplicates: Sendable {
        /// ~/.ssh/config: the first value obtained wins, as in OpenSSH.
        case firstWins
        /// Profiles and `-o`: a different second value is an error; the same value again is harmless.
        case rejectConflicts
    }

    let duplicates: Duplicates
    var hostName: Sourced<String>?
    var user: Sourced<String>?
    var port: Sourced<Int>?
    /// Repeatable: every value is kept, in order.
    var identityFiles: [Sourced<String>] = []
    var identitiesOnly: Sourced<Bool>?
    /// Repeatable: every value is kept, in order.
    var certificateFiles: [Sourced<String>] = []
    var identityAgent: Sourced<String>?
    var knownHostsFiles: Sourced<[String]>?
    var strictHostKeyChecking: Sourced<TunnelSettings.HostKeyPolicy>?
    var serverAliveInterval: Sourced<Int>?
    var serverAliveCountMax: Sourced<Int>?
    var connectTimeout: Sourced<Int>?
    var ciphers: Sourced<[String]>?
    var macs: Sourced<[String]>?
    var kexAlgorithms: Sourced<[String]>?
    var hostKeyAlgorithms: Sourced<[String]>?
    /// ProxyJump and ProxyCommand share it (OpenSSH: the first obtained wins).
    var proxy: Sourced<ProxySetting>?
    var ftpHost: Sourced<String>?
    var ftpPort: Sourced<Int>?
    var localPort: Sourced<Int>?
    var passivePorts: Sourced<PortRange>?
    var mode: Sourced<TunnelSettings.Mode>?
    var sftpRoot: Sourced<String>?
    var sftpUploads: Sourced<UploadVisibility>?
    var sftpStreams: Sourced<Int>?
    /// nil inside: `auto`.
    var dataWindow: Sourced<Int?>?
    var dataWindowMax: Sourced<Int>?
    var passiveHost: Sourced<TunnelSettings.PassiveHostPolicy>?
    var sessions: Sourced<Int>?
    var reconnect: Sourced<Bool>?
    var reconnectAttempts: Sourced<Int>?
    var earlyDataChannel: Sourced<Bool>?
    var bindAddress: Sourced<String>?

    init(duplicates: Duplicates) { self.duplicates = duplicates }

    /// Validates `arguments` for `keyword` and records the value.
    /// Longest value accepted, in bytes, as OpenSSH bounds them: a login name 256 (LOGIN_NAME_MAX), a host name
    /// 1025 (NI_MAXHOST), anything else (paths, lists) 4096 (PATH_MAX).
    static func maximumValueBytes(_ keyword: ProfileKeyword) -> Int {
        switch keyword {
        case .user: return 256
        case .hostName: return 1025
        default: return 4096
        }
    }

    mutating func apply(_ keyword: ProfileKeyword, _ arguments: [String], at source: SettingSource) throws {
        let name = keyword.rawValue
        guard let first = arguments.first else { throw ProfileError.missingValue(at: source, keyword: name) }
        let limit = Self.maximumValueBytes(keyword)
        if let long = arguments.first(where: { $0.utf8.count > limit }) {
            throw ProfileError.invalidValue(at: source, keyword: name, value: String(long.prefix(24)) + "…",
                                            problem: "is \(long.utf8.count) bytes long, more than the \(limit) allowed",
                                            hint: "give the real \(name) value")
        }
        let multiValued: Set<ProfileKeyword> = [.userKnownHostsFile, .proxyCommand]
        if arguments.count > 1, !multiValued.contains(keyword) {
            throw ProfileError.tooManyValues(at: source, keyword: name, count: arguments.count)
        }
        func parse<T>(_ parser: (String) throws -> T) throws -> T {
            do { return try parser(first) } catch let problem as ValueProblem {
                throw ProfileError.invalidValue(at: source, keyword: name, value: first,
                                                problem: problem.problem, hint: problem.hint)
            }
        }
        func set<T>(_ path: WritableKeyPath<SettingsLayer, Sourced<T>?>, _ value: T) throws {
            try assign(path, value, keyword: name, shown: arguments.joined(separator: " "), at: source)
        }
        switch keyword {
        case .hostName: try set(\.hostName, try parse(ValueParser.host))
        case .user: try set(\.user, try parse(ValueParser.userName))
        case .port: try set(\.port, try parse { try ValueParser.port($0) })
        case .identityFile:
            guard !first.isEmpty else { throw ProfileError.missingValue(at: source, keyword: name) }
            if !identityFiles.contains(where: { $0.value == first }) { identityFiles.append(Sourced(first, source)) }
        case .identitiesOnly: try set(\.identitiesOnly, try parse(ValueParser.yesNo))
        case .certificateFile:
            guard !first.isEmpty else { throw ProfileError.missingValue(at: source, keyword: name) }
            if !certificateFiles.contains(where: { $0.value == first }) { certificateFiles.append(Sourced(first, source)) }
        case .identityAgent:
            guard !first.isEmpty else { throw ProfileError.missingValue(at: source, keyword: name) }
            try set(\.identityAgent, first)
        case .userKnownHostsFile:
            guard !arguments.contains(where: \.isEmpty) else { throw ProfileError.missingValue(at: source, keyword: name) }
            try set(\.knownHostsFiles, arguments)
        case .strictHostKeyChecking: try set(\.strictHostKeyChecking, try parse(ValueParser.hostKeyPolicy))
        case .serverAliveInterval:
            try set(\.serverAliveInterval, try parse { try ValueParser.seconds($0, in: ValueParser.aliveIntervalRange) })
        case .serverAliveCountMax:
            try set(\.serverAliveCountMax, try parse { try ValueParser.integer($0, in: ValueParser.aliveCountRange) })
        case .connectTimeout:
            try set(\.connectTimeout, try parse { try ValueParser.seconds($0, in: ValueParser.connectTimeoutRange) })
        case .ciphers: try set(\.ciphers, try parse(ValueParser.algorithms))
        case .macs: try set(\.macs, try parse(ValueParser.algorithms))
        case .kexAlgorithms: try set(\.kexAlgorithms, try parse(ValueParser.algorithms))
        case .hostKeyAlgorithms: try set(\.hostKeyAlgorithms, try parse(ValueParser.algorithms))
        case .proxyJump: try set(\.proxy, try parse { text throws(ValueProblem) in try ProxySetting.jump(parsing: text) })
        case .proxyCommand: try set(\.proxy, ProxySetting.command(words: arguments))
        case .ftpHost: try set(\.ftpHost, try parse(ValueParser.host))
        case .ftpPort: try set(\.ftpPort, try parse { try ValueParser.port($0) })
        case .localPort: try set(\.localPort, try parse { try ValueParser.port($0, range: ValueParser.localPortRange) })
        case .passivePorts: try set(\.passivePorts, try parse(ValueParser.portRange))
        case .mode: try set(\.mode, try parse { try ValueParser.choice($0, of: TunnelSettings.Mode.self) })
        case .sftpRoot: try set(\.sftpRoot, try parse(ValueParser.remotePath))
        case .sftpUploads: try set(\.sftpUploads, try parse { try ValueParser.choice($0, of: UploadVisibility.self) })
        case .sftpStreams: try set(\.sftpStreams, try parse { try ValueParser.integer($0, in: ValueParser.sftpStreamsRange, unit: " channels") })
        case .dataWindow:
            try set(\.dataWindow, try parse { $0.lowercased() == "auto" ? nil : try ValueParser.size($0, in: ValueParser.dataWindowRange) })
        case .dataWindowMax:
            try set(\.dataWindowMax, try parse { try ValueParser.size($0, in: ValueParser.dataWindowRange) })
        case .passiveHost:
            try set(\.passiveHost, try parse { try ValueParser.choice($0, of: TunnelSettings.PassiveHostPolicy.self) })
        case .sessions:
            try set(\.sessions, try parse { try ValueParser.integer($0, in: ValueParser.sessionsRange, unit: " sessions") })
        case .reconnect: try set(\.reconnect, try parse(ValueParser.yesNo))
        case .earlyDataChannel: try set(\.earlyDataChannel, try parse(ValueParser.yesNo))
        case .reconnectAttempts:
            try set(\.reconnectAttempts, try parse { try ValueParser.integer($0, in: ValueParser.reconnectAttemptsRange, unit: " attempts") })
        case .bindAddress: try set(\.bindAddress, try parse(ValueParser.bindAddress))
        case .gatewayPorts:
            let open = try parse(ValueParser.yesNo)
            try set(\.bindAddress, open ? SettingsLayer.everyInterface : SettingsLayer.loopback)
        }
    }

    static let loopback = "127.0.0.1"
    static let everyInterface = "0.0.0.0"

    private mutating func assign<T>(_ path: WritableKeyPath<SettingsLayer, Sourced<T>?>, _ value: T,
                                    keyword: String, shown: String, at source: SettingSource) throws {
        guard let existing = self[keyPath: path] else {
            self[keyPath: path] = Sourced(value, source)
            return
        }
        if duplicates == .rejectConflicts, existing.value != value {
            throw ProfileError.conflictingValue(at: source, keyword: keyword, value: shown, firstAt: existing.source)
        }
    }
}
