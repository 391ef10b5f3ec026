/// Resolves ProxyJump's hops into settings, nearest first. Each hop reads its own `Host` block of ~/.ssh/config
/// (User, Port, HostName, IdentityFile, …) as OpenSSH does; what its block leaves unset of UserKnownHostsFile and
/// ConnectTimeout comes from the destination, and every hop uses the destination's StrictHostKeyChecking. The first
/// hop's own ProxyJump (or ProxyCommand) is followed, as `ssh -J` would; a later hop's is replaced by the chain.
struct HopChainResolution {
    let resolver: SettingsResolver
    let target: TunnelSettings
    /// One line per hop for `ftptunnel show`.
    private(set) var lines: [String] = []
    private(set) var notes: [String] = []

    init(resolver: SettingsResolver, target: TunnelSettings) {
        self.resolver = resolver
        self.target = target
    }

    mutating func resolve(_ hops: [JumpHost], at source: SettingSource) throws -> [TunnelSettings] {
        var chain: [TunnelSettings] = []
        try append(hops, at: source, to: &chain, depth: 0)
        for (index, hop) in chain.enumerated() {
            let via = index == 0 ? (hop.proxyCommand.map { " via ProxyCommand \($0)" } ?? "") : ""
            lines[index] = "hop \(index + 1) of \(chain.count): \(hop.sshEndpoint)\(via) (\(lines[index]))"
        }
        return chain
    }

    private mutating func append(_ hops: [JumpHost], at source: SettingSource, to chain: inout [TunnelSettings],
                                 depth: Int) throws {
        for (index, hop) in hops.enumerated() {
            let resolved = try resolver.resolveHop(hop, at: source)
            var settings = resolved.settings
            if index == 0, let own = resolved.pendingJumps {
                guard depth < JumpHost.maximumHops else {
                    throw ProfileError.invalidValue(at: own.source, keyword: ProfileKeyword.proxyJump.rawValue,
                                                    value: own.value.map(\.description).joined(separator: ","),
                                                    problem: "leads through more than \(JumpHost.maximumHops) hops (a loop of Host blocks?)",
                                                    hint: "check the ProxyJump lines of the hops' Host blocks")
                }
                try append(own.value, at: own.source, to: &chain, depth: depth + 1)
            } else if index > 0, settings.proxyCommand != nil || resolved.pendingJumps != nil {
                notes.append("\(source): the hop \(hop) has its own ProxyJump/ProxyCommand, which the chain replaces (as ssh -J does)")
                settings.proxyCommand = nil
            }
            if !chain.isEmpty { settings.proxyCommand = nil }
            settings.jumpHosts = []
            settings.strictHostKeyChecking = target.strictHostKeyChecking
            if resolved.inheritable.knownHosts { settings.knownHostsFiles = target.knownHostsFiles }
            if resolved.inheritable.connectTimeout { settings.connectTimeout = target.connectTimeout }
            guard chain.count < JumpHost.maximumHops else {
                throw ProfileError.invalidValue(at: source, keyword: ProfileKeyword.proxyJump.rawValue,
                                                value: hops.map(\.description).joined(separator: ","),
                                                problem: "leads through more than \(JumpHost.maximumHops) hops",
                                                hint: "use at most \(JumpHost.maximumHops) bastions")
            }
            chain.append(settings)
            lines.append(["HostName", "User", "Port", "IdentityFile"].compactMap { keyword in
                resolved.sources[keyword].map { "\(keyword) from \($0)" }
            }.joined(separator: "; "))
        }
    }
}
