import Foundation
import Logging
import Posix
import TunnelCore

/// Brings up the bastions of ProxyJump, nearest first, and returns the socket the destination's session runs on.
/// Hop 1 is reached over TCP (or its own ProxyCommand); every later hop, and the destination, over a
/// `direct-tcpip` channel of the hop before it. Each bastion's session lives in a `HopPump`, kept in `HopMemory`
/// while any session runs through it: the sessions of a pool and reconnects share it, and a new one is built only
/// when it is gone (lost, or no longer needed). Each hop's host key is verified under the policy (the first time;
/// later sessions require the same key) and it authenticates with its own settings (later sessions replay the
/// credential without prompting). Every error names the hop.
struct JumpChain {
    let settings: TunnelSettings
    let logger: Logger
    let environment: [String: String]
    let memory: HopMemory

    /// Upper bound for each blocking step through a bastion when ConnectTimeout is not set.
    static let defaultStepTimeout = 60

    /// Connects every hop not already up and returns the destination's socket and what carries it.
    func open() throws -> (socket: Int32, carrier: SessionCarrier) {
        let hops = settings.jumpHosts
        guard !hops.isEmpty else { throw TunnelError.internalFailure("ProxyJump without hops") }
        let last = try pump(hops.count - 1)
        return try last.openChannel(host: settings.sshHost, port: settings.sshPort, timeout: openTimeout(settings))
    }

    /// How long a channel open to `next` may wait for the bastion: ConnectTimeout (else 60 s), and no longer than
    /// the silence `next`'s ServerAlive tolerates (interval × (count + 1)): a bastion that hung while a session
    /// through it still ran must not hold up that session's reconnect for longer than its loss took to notice.
    private func openTimeout(_ next: TunnelSettings) -> Duration {
        let step = settings.connectTimeout ?? Self.defaultStepTimeout
        guard next.serverAliveInterval > 0 else { return .seconds(step) }
        let silence = max(ServerAliveMonitor.shortestInterval, next.serverAliveInterval) * (max(0, next.serverAliveCountMax) + 1)
        return .seconds(min(step, silence))
    }

    /// Hop `index`'s pump, holding a reservation for one `openChannel`: the running one, or a new session.
    private func pump(_ index: Int) throws -> HopPump {
        try memory.pump(index) {
            let hops = settings.jumpHosts
            let hop = hops[index]
            let name = "bastion \(index + 1) of \(hops.count) \(hop.sshEndpoint)"
            var hopLogger = logger
            hopLogger[metadataKey: "hop"] = "\(hop.sshEndpoint)"
            var hopSettings = hop
            hopSettings.jumpHosts = []
            if index > 0 { hopSettings.proxyCommand = nil }
            let session: SSHSession
            do {
                let carried = try index == 0 ? nil : pump(index - 1).openChannel(host: hop.sshHost, port: hop.sshPort, timeout: openTimeout(hop))
                let connector = SSHConnector(settings: hopSettings, logger: hopLogger, environment: environment,
                                             transport: carried.map { .carried(socket: $0.socket, carrier: $0.carrier) } ?? .network)
                session = try connect(connector, hop: index)
            } catch let error as BastionError {
                throw error
            } catch {
                throw BastionError(hop: name, underlying: error)
            }
            let bastion = "\(hop.sshHost.contains(":") ? "[\(hop.sshHost)]" : hop.sshHost):\(hop.sshPort)"
            let pump = try HopPump(session: session, name: hop.sshEndpoint, bastion: bastion,
                                   serverAlive: (hop.serverAliveInterval, hop.serverAliveCountMax), logger: hopLogger)
            pump.start()
            return pump
        }
    }

    /// Hop `index`: the first connection verifies and authenticates as for any host; later ones must meet the
    /// same host key and replay the credential.
    private func connect(_ connector: SSHConnector, hop index: Int) throws -> SSHSession {
        if let known = memory.hop(index) {
            return try connector.connectAnother(hostKey: known.hostKey, credential: known.credential,
                                                 number: SessionPoolError.laterSession)
        }
        let (session, hostKey, credential) = try connector.connectFirst()
        memory.remember(index, hostKey: hostKey, credential: credential)
        return session
    }
}

/// Each bastion's host key and credential from the first connection through the chain, so reconnects and pool
/// sessions rebuild the chain without prompting and refuse a bastion that presents another key.
final class HopMemory: @unchecked Sendable {
    private let lock = NSLock()
    private var hops: [Int: (hostKey: PoolHostKey, credential: SSHCredential)] = [:]
    /// Held while a chain is looked up or built (recursive: hop N's pump is built through hop N-1's), so the
    /// sessions of a pool wait for one chain instead of building one each.
    private let chainLock = NSRecursiveLock()
    /// Under `lock`: a pump that ended is forgotten at once, so its session (and its socket, which a lane of the
    /// hop before may carry) goes with the sessions that rode it.
    private var pumps: [Int: HopPump] = [:]

    /// Hop `index`'s running pump with a reservation taken, or the one `build` makes (it holds one already).
    func pump(_ index: Int, build: () throws -> HopPump) throws -> HopPump {
        chainLock.lock()
        defer { chainLock.unlock() }
        if let running = lock.withLock({ pumps[index] }), running.reserve() { return running }
        let pump = try build()
        lock.withLock { pumps[index] = pump }
        pump.onEnd = { [weak self] ended in
            self?.lock.withLock { if self?.pumps[index] === ended { self?.pumps[index] = nil } }
        }
        return pump
    }

    func hop(_ index: Int) -> (hostKey: PoolHostKey, credential: SSHCredential)? { lock.withLock { hops[index] } }

    func remember(_ index: Int, hostKey: PoolHostKey, credential: SSHCredential) {
        lock.withLock { hops[index] = (hostKey, credential) }
    }
}
