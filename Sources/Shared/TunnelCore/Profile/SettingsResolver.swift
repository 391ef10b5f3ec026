import Foundation
import Posix

/// Options given on the command line. Each non-nil value wins over the profile and ~/.ssh/config.
public struct SettingOverrides: Sendable, Equatable {
    public var profilePath: String?
    public var user: String?
    public var port: Int?
    public var identityFiles: [String] = []
    public var ftpHost: String?
    public var ftpPort: Int?
    public var localPort: Int?
    public var passivePorts: String?
    public var mode: String?
    public var sftpRoot: String?
    public var knownHostsFile: String?
    /// `-J hop[,hop…]` or `-J none`.
    public var proxyJump: String?
    /// `-o Keyword=Value` (or `Keyword Value`), any profile or ssh_config keyword.
    public var options: [String] = []
    public init() {}
}

/// Settings after merging every source, with where each value came from (for `ftptunnel show`).
public struct ResolvedSettings: Sendable {
    /// One line of `ftptunnel show`: a keyword, its value as a profile would spell it (nil: not set, the
    /// default behaviour applies), and where it came from.
    public struct Entry: Sendable, Equatable {
        public let keyword: String
        public let value: String?
        public let source: String
    }

    public var settings: TunnelSettings
    /// Keyword (as written in profiles, e.g. `HostName`) → source, e.g. `~/.config/ftptunnel/profiles/demo.conf:3`,
    /// `command line (-p)`, `-o`, `~/.ssh/config:12`, `default`. Several sources are joined with `, `.
    public var sources: [String: String]
    /// The profile file used, if any.
    public var profilePath: String?
    /// Every keyword in profile order (IdentityFile once per file).
    public var entries: [Entry] = []
    /// Things worth saying at `-v` (ignored ssh_config lines, a hop's own proxy replaced, listeners open to the network).
    public var notes: [String] = []
    /// The name ~/.ssh/config was matched against (the profile's HostName, else the host of DEST).
    public var hostAlias: String = ""
    /// ProxyJump as written, until the resolver resolves each hop into `settings.jumpHosts`.
    var pendingJumps: Sourced<[JumpHost]>?
    /// A hop's settings its Host block left unset, which it takes from the destination instead.
    var inheritable: (knownHosts: Bool, connectTimeout: Bool) = (false, false)
    /// One line per hop of `settings.jumpHosts` for `ftptunnel show`: the hop and where its settings came from.
    public var hopLines: [String] = []

    public init(settings: TunnelSettings, sources: [String: String], profilePath: String?) {
        self.settings = settings
        self.sources = sources
        self.profilePath = profilePath
    }
}

/// Turns `DEST` plus command-line options into `TunnelSettings`:
/// command line (dedicated options, then DEST's `user@`/`:port`, then `-o`) > profile > matching `Host` blocks of
/// ~/.ssh/config > defaults.
///
/// - DEST naming a profile (`NAME` or `user@NAME:port`) loads `NAME.conf` from the profiles directory;
///   `--profile FILE` loads FILE whatever DEST says (DEST's host is then used when FILE has no HostName).
/// - ~/.ssh/config is matched against the profile's HostName as written, else the host of DEST — the name the
///   user would type to `ssh`. A `HostName` found there translates that name, as in OpenSSH (`%h` is the name).
/// - IdentityFile accumulates over all sources (command line first), as in OpenSSH.
/// - `FTPTUNNEL_SSH_CONFIG` replaces the ~/.ssh/config path; `none` reads no ssh_config.
public struct SettingsResolver: Sendable {
    public static let sshConfigEnvironmentKey = "FTPTUNNEL_SSH_CONFIG"
    public static let defaultSSHPort = 22
    public static let defaultKnownHosts = "~/.ssh/known_hosts"

    public let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public var home: String { SettingsResolver.homeDirectory(environment) }
    public var profileStore: ProfileStore { ProfileStore(environment: environment) }

    /// The ssh_config file read, or nil when disabled.
    public var sshConfigPath: String? {
        switch environment[SettingsResolver.sshConfigEnvironmentKey] {
        case "none": nil
        case let path? where !path.isEmpty: path
        default: "\(home)/.ssh/config"
        }
    }

    public func resolve(destination: String, overrides: SettingOverrides) throws -> ResolvedSettings {
        let dest = try Destination(parsing: destination)
        let commandLine = try commandLineLayer(destination: destination, dest, overrides)
        var extra = SettingsLayer(duplicates: .rejectConflicts)
        for option in overrides.options {
            let source = SettingSource.extraOption(option)
            guard let entry = try ConfigLineParser.parseLine(Substring(option), line: 0, at: source) else {
                throw ProfileError.syntax(at: source, problem: "no keyword given", hint: "write -o Keyword=Value, e.g. -o DataWindow=32M")
            }
            try extra.applyChecked(entry.keyword, entry.arguments, at: source)
        }

        var profilePath = try overrides.profilePath.map { path in
            do { return try PathExpander(home: home, tokens: [:]).expandTilde(path) } catch let problem as ValueProblem {
                throw ProfileError.invalidValue(at: .commandLine(option: "--profile", value: path), keyword: "profile",
                                                value: path, problem: problem.problem, hint: problem.hint)
            }
        }
        if profilePath == nil, dest.mayNameProfile { profilePath = profileStore.existingPath(forName: dest.host) }
        let profile = try profilePath.map { try ProfileFile.load(path: $0, shownAs: displayPath($0)) }

        let alias = profile?.hostName?.value ?? dest.host
        let higher = [commandLine, extra] + (profile.map { [$0] } ?? [])
        let context = MatchContext(originalHost: alias, requestedUser: higher.lazy.compactMap(\.user).first?.value,
                                   requestedPort: higher.lazy.compactMap(\.port).first?.value,
                                   localUser: SettingsResolver.localUser(environment))
        var reader = SSHConfigReader(home: home, display: displayPath, context: context)
        if let path = sshConfigPath { try reader.read(path: path, alias: alias) }

        var merger = SettingsMerger(layers: [commandLine, extra] + (profile.map { [$0] } ?? []) + [reader.layer],
                                    environment: environment, home: home)
        var resolved = try merger.merge(destinationHost: dest.host, destinationText: destination, alias: alias,
                                        extraHostName: extra.hostName, sshConfigHostName: reader.layer.hostName,
                                        profileHostName: profile?.hostName)
        resolved.profilePath = profilePath
        resolved.notes = reader.notes + merger.notes
        if let jumps = resolved.pendingJumps {
            var chain = HopChainResolution(resolver: self, target: resolved.settings)
            resolved.settings.jumpHosts = try chain.resolve(jumps.value, at: jumps.source)
            resolved.hopLines = chain.lines
            resolved.notes += chain.notes
        }
        return resolved
    }

    /// One hop of ProxyJump from ~/.ssh/config alone (its own Host block, as OpenSSH does for a jump host).
    func resolveHop(_ hop: JumpHost, at source: SettingSource) throws -> ResolvedSettings {
        var layer = SettingsLayer(duplicates: .firstWins)
        if let user = hop.user { try layer.apply(.user, [user], at: source) }
        if let port = hop.port { try layer.apply(.port, [String(port)], at: source) }
        let context = MatchContext(originalHost: hop.host, requestedUser: hop.user, requestedPort: hop.port,
                                   localUser: SettingsResolver.localUser(environment))
        var reader = SSHConfigReader(home: home, display: displayPath, context: context)
        if let path = sshConfigPath { try reader.read(path: path, alias: hop.host) }
        var merger = SettingsMerger(layers: [layer, reader.layer], environment: environment, home: home)
        var resolved = try merger.merge(destinationHost: hop.host, destinationText: hop.description, alias: hop.host,
                                        extraHostName: nil, sshConfigHostName: reader.layer.hostName, profileHostName: nil)
        resolved.notes = reader.notes + merger.notes
        resolved.inheritable = (knownHosts: reader.layer.knownHostsFiles == nil, connectTimeout: reader.layer.connectTimeout == nil)
        return resolved
    }

    /// Dedicated options and the `user@`/`:port` parts of DEST; dedicated options win (as `ssh -l` over `user@`).
    private func commandLineLayer(destination: String, _ dest: Destination, _ o: SettingOverrides) throws -> SettingsLayer {
        var layer = SettingsLayer(duplicates: .firstWins)
        func apply(_ keyword: ProfileKeyword, _ value: String?, option: String) throws {
            guard let value else { return }
            try layer.apply(keyword, [value], at: .commandLine(option: option, value: value))
        }
        try apply(.user, o.user, option: "-l")
        try apply(.port, o.port.map(String.init), option: "-p")
        for identity in o.identityFiles { try apply(.identityFile, identity, option: "-i") }
        try apply(.ftpHost, o.ftpHost, option: "--ftp-host")
        try apply(.ftpPort, o.ftpPort.map(String.init), option: "--ftp-port")
        try apply(.localPort, o.localPort.map(String.init), option: "--local-port")
        try apply(.passivePorts, o.passivePorts, option: "--passive-ports")
        try apply(.mode, o.mode, option: "--mode")
        try apply(.sftpRoot, o.sftpRoot, option: "--sftp-root")
        try apply(.userKnownHostsFile, o.knownHostsFile, option: "--known-hosts")
        try apply(.proxyJump, o.proxyJump, option: "-J")
        if let user = dest.user { try layer.apply(.user, [user], at: .destination(destination)) }
        if let port = dest.port { try layer.apply(.port, [String(port)], at: .destination(destination)) }
        return layer
    }

    /// A path as shown to the user: the home directory written `~`.
    public func displayPath(_ path: String) -> String {
        let prefix = home.hasSuffix("/") ? home : home + "/"
        return path.hasPrefix(prefix) && home != "/" ? "~/" + path.dropFirst(prefix.count) : path
    }

    static func homeDirectory(_ environment: [String: String]) -> String {
        if let home = environment["HOME"], !home.isEmpty { return home }
        if let entry = PosixIdentity.currentUserEntry() { return entry.home }
        return "/"
    }

    static func localUser(_ environment: [String: String]) -> String {
        if let user = environment["USER"] ?? environment["LOGNAME"], !user.isEmpty { return user }
        if let entry = PosixIdentity.currentUserEntry() { return entry.name }
        return "root"
    }
}
