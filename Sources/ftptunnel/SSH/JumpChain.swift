import Foundation
import Logging
import Posix
import TunnelCore

/// Brings up the bastions of ProxyJump, nearest first, and returns the socket the destination's session runs on.
/// Hop 1 is reached over TCP (or its own ProxyCommand); every later hop, and the destination, over a
/// `direct-tcpip` channel of the hop before it, which a `HopPump` thread serves from then on. Each hop's host key
/// is verified under the policy (the first time; later sessions require the same key) and it authenticates with
/// its own settings (later sessions replay the credential without prompting). Every error names the hop.
struct JumpChain {
    let settings: TunnelSettings
    let logger: Logger
    let environment: [String: String]
    let memory: HopMemory

    /// Receive window of a jump channel: OpenSSH's own, so a bastion does not cap what the session carries.
    static let channelWindow = 2 << 20
    static let packetSize = 32768
    /// Upper bound for each blocking step through a bastion when ConnectTimeout is not set.
    static let defaultStepTimeout = 60

    /// Connects every hop and returns the destination's socket and the pump carrying it.
    func open() throws -> (socket: Int32, carrier: SessionCarrier) {
        let hops = settings.jumpHosts
        var carried: (socket: Int32, carrier: SessionCarrier)?
        for (index, hop) in hops.enumerated() {
            let name = "bastion \(index + 1) of \(hops.count) \(hop.sshEndpoint)"
            var hopLogger = logger
            hopLogger[metadataKey: "hop"] = "\(hop.sshEndpoint)"
            let next = index + 1 < hops.count ? hops[index + 1] : settings
            var hopSettings = hop
            hopSettings.jumpHosts = []
            if index > 0 { hopSettings.proxyCommand = nil }
            let connector = SSHConnector(settings: hopSettings, logger: hopLogger, environment: environment,
                                         transport: carried.map { .carried(socket: $0.socket, carrier: $0.carrier) } ?? .network)
            carried = nil
            let session: SSHSession
            do {
                session = try connect(connector, hop: index)
            } catch {
                throw BastionError(hop: name, underlying: error)
            }
            carried = try channel(from: session, hop: hop, to: next, logger: hopLogger)
        }
        guard let carried else { throw TunnelError.internalFailure("ProxyJump without hops") }
        return carried
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

    /// Opens the channel to `next` on `session` and starts the pump that serves it.
    private func channel(from session: SSHSession, hop: TunnelSettings, to next: TunnelSettings,
                         logger: Logger) throws -> (socket: Int32, carrier: SessionCarrier) {
        let target = "\(next.sshHost.contains(":") ? "[\(next.sshHost)]" : next.sshHost):\(next.sshPort)"
        let bastion = "\(hop.sshHost.contains(":") ? "[\(hop.sshHost)]" : hop.sshHost):\(hop.sshPort)"
        session.setTimeout(seconds: Double(settings.connectTimeout ?? Self.defaultStepTimeout))
        let channel: SSHChannel
        do {
            switch try session.openDirectTCPIP(host: next.sshHost, port: next.sshPort, originatorHost: "127.0.0.1",
                                               originatorPort: 0, window: Self.channelWindow, packetSize: Self.packetSize) {
            case .done(let opened): channel = opened
            case .wouldBlock: throw SSHError.jumpChannelRefused(bastion: bastion, target: target, reason: "the open did not complete")
            }
        } catch let failure as LibSSH2Failure {
            throw SSHError.jumpChannelRefused(bastion: bastion, target: target, reason: failure.message)
        }
        let (ours, theirs) = try PosixProcess.streamPair()
        let pump = HopPump(session: session, channel: channel, local: theirs, name: hop.sshEndpoint, logger: logger)
        pump.start()
        logger.info("jump channel open", metadata: ["to": "\(target)"])
        return (ours, pump)
    }
}

/// Each bastion's host key and credential from the first connection through the chain, so reconnects and pool
/// sessions rebuild the chain without prompting and refuse a bastion that presents another key.
final class HopMemory: @unchecked Sendable {
    private let lock = NSLock()
    private var hops: [Int: (hostKey: PoolHostKey, credential: SSHCredential)] = [:]

    func hop(_ index: Int) -> (hostKey: PoolHostKey, credential: SSHCredential)? { lock.withLock { hops[index] } }

    func remember(_ index: Int, hostKey: PoolHostKey, credential: SSHCredential) {
        lock.withLock { hops[index] = (hostKey, credential) }
    }
}
