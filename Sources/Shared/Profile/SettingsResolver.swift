import Foundation

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
    public var knownHostsFile: String?
    /// `-o Keyword=Value` (or `Keyword Value`), any profile or ssh_config keyword.
    public var options: [String] = []
    public init() {}
}

/// Settings after merging every source, with where each value came from (for `ftptunnel show`).
public struct ResolvedSettings: Sendable {
    public var settings: TunnelSettings
    /// Keyword (as written in profiles, e.g. `HostName`) → source, e.g. `profile ~/.config/ftptunnel/profiles/demo.conf:3`,
    /// `command line (-o)`, `~/.ssh/config:12`, `default`.
    public var sources: [String: String]
    /// The profile file used, if any.
    public var profilePath: String?
    public init(settings: TunnelSettings, sources: [String: String], profilePath: String?) {
        self.settings = settings
        self.sources = sources
        self.profilePath = profilePath
    }
}

/// Turns `DEST` plus command-line options into `TunnelSettings`:
/// command line > profile > matching `Host` block of ~/.ssh/config > defaults.
///
/// STUB: understands only `[user@]host[:port]` and the plain overrides; replaced by the full resolver.
public struct SettingsResolver: Sendable {
    public let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    public func resolve(destination: String, overrides: SettingOverrides) throws -> ResolvedSettings {
        var rest = Substring(destination)
        var user = environment["USER"] ?? "root"
        if let at = rest.lastIndex(of: "@") { user = String(rest[..<at]); rest = rest[rest.index(after: at)...] }
        var port = 22
        if let colon = rest.lastIndex(of: ":"), let p = Int(rest[rest.index(after: colon)...]) {
            port = p
            rest = rest[..<colon]
        }
        var settings = TunnelSettings(sshHost: String(rest), user: overrides.user ?? user)
        settings.sshPort = overrides.port ?? port
        settings.identityFiles = overrides.identityFiles
        if let v = overrides.ftpHost { settings.ftpHost = v }
        if let v = overrides.ftpPort { settings.ftpPort = v }
        settings.localPort = overrides.localPort
        if let v = overrides.passivePorts { settings.passivePorts = PortRange(v) }
        if let v = overrides.mode, let m = TunnelSettings.Mode(rawValue: v) { settings.mode = m }
        if let v = overrides.knownHostsFile { settings.knownHostsFiles = [v] }
        // Minimal `-o` for the tunnel's own tests until the full resolver lands (it replaces this file).
        for option in overrides.options {
            let parts = option.split(separator: "=", maxSplits: 1).map { String($0).trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            let list = parts[1].split(separator: ",").map(String.init)
            switch parts[0].lowercased() {
            case "stricthostkeychecking": settings.strictHostKeyChecking = TunnelSettings.HostKeyPolicy(rawValue: parts[1])
            case "identitiesonly": settings.identitiesOnly = parts[1] == "yes"
            case "serveraliveinterval": settings.serverAliveInterval = Int(parts[1]) ?? 0
            case "serveralivecountmax": settings.serverAliveCountMax = Int(parts[1]) ?? 3
            case "ciphers": settings.ciphers = list
            case "macs": settings.macs = list
            case "hostkeyalgorithms": settings.hostKeyAlgorithms = list
            default: break
            }
        }
        return ResolvedSettings(settings: settings, sources: [:], profilePath: nil)
    }
}
