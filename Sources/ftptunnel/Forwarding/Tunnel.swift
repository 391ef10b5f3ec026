import Foundation
import Logging
import Posix
import FTPCore
import TunnelCore

/// What the tunnel reports once every listener is bound and the SSH session is authenticated.
struct TunnelReady: Sendable {
    /// The local control port FTP clients connect to.
    let localPort: Int
    let bindAddress: String
    /// The forwarded passive data ports (fixed mode).
    var passivePorts: PortRange? = nil
    /// Rewrite mode: data listeners are opened on demand (in `passivePorts` when set).
    var onDemand = false
    /// Mode sftp: the server's canonical path of the directory served as `/` (nil in the forwarding modes).
    var sftpRoot: String? = nil
    /// `ftp://127.0.0.1:PORT`; a wildcard bind address (`0.0.0.0`, `::`) is never announced: its loopback
    /// address is, since that works for clients on this host.
    var url: String {
        let host = connectHost
        return "ftp://\(host.contains(":") ? "[\(host)]" : host):\(localPort)"
    }

    /// True when the control port listens on every address (BindAddress 0.0.0.0 or ::, GatewayPorts yes).
    var listensEverywhere: Bool { SocketAddress(host: bindAddress, port: 0)?.isWildcard ?? false }

    private var connectHost: String {
        guard listensEverywhere else { return bindAddress }
        return bindAddress.contains(":") ? "::1" : "127.0.0.1"
    }
}

/// One site's tunnel: the SSH session, the local listeners and the forwarding loop.
///
/// Order of work: bind every listener (not yet listening: a port conflict fails before any SSH work), connect,
/// verify the host key, authenticate, then start listening and report ready. A refused host key therefore
/// never leaves a port accepting connections.
final class Tunnel: @unchecked Sendable {
    let settings: TunnelSettings
    let logger: Logger
    private let wakeUp: WakeUpPipe?
    private let lock = NSLock()
    private var stopped = false
    private var forwarding = false
    private var pool: SessionPool?
    /// What `ftptunnel status` reports while the tunnel runs.
    let activity = TunnelActivity()

    /// Control port tried first when LocalPort is not set, and the fallback when it cannot be bound.
    static let preferredControlPort = 21
    static let fallbackControlPort = 2121

    /// The connections are the caller's own probes (`check`): their connection and transfer lines stay at -v.
    private let ownConnections: Bool

    init(settings: TunnelSettings, logger: Logger, ownConnections: Bool = false) {
        self.settings = settings
        self.logger = logger
        self.ownConnections = ownConnections
        wakeUp = try? WakeUpPipe()
    }

    /// Hidden, for tests: `FTPTUNNEL_SERVER_ALIVE_BUDGET=N` (1-1024) makes a session's ServerAlive budget N probes
    /// instead of 1024, so its replacement can be watched within seconds.
    static var probeBudgetOverride: Int? {
        guard let text = ProcessInfo.processInfo.environment["FTPTUNNEL_SERVER_ALIVE_BUDGET"], let budget = Int(text),
              (1...ServerAliveMonitor.defaultProbeLimit).contains(budget) else { return nil }
        return budget
    }

    /// Hidden, for tests: `FTPTUNNEL_DATA_LISTENER_TIMEOUT=N` (1-60) closes a rewrite-mode data listener nobody
    /// connects to after N seconds instead of 60, so its expiry can be watched within seconds.
    static var listenerTimeoutOverride: TimeInterval? {
        listenerTimeout(from: ProcessInfo.processInfo.environment)
    }

    static func listenerTimeout(from environment: [String: String]) -> TimeInterval? {
        guard let text = environment["FTPTUNNEL_DATA_LISTENER_TIMEOUT"], let seconds = Int(text),
              (1...Int(DataListenerRegistry.defaultUnusedListenerTimeout)).contains(seconds) else { return nil }
        return TimeInterval(seconds)
    }

    /// Connects, verifies the host key, authenticates, binds every listener, calls `onReady` once,
    /// then forwards until `stop()` is called or a fatal error occurs (thrown). Blocks the calling thread.
    func run(onReady: @escaping @Sendable (TunnelReady) -> Void) throws {
        guard let wakeUp else { throw TunnelError.internalFailure("cannot create the wake-up pipe") }
        if settings.mode == .sftp { return try runBridge(wakeUp: wakeUp, onReady: onReady) }
        let rewrite = settings.mode == .rewrite
        let listeners = try bindListeners(forwardedPorts: rewrite ? nil : settings.passivePorts)
        if !rewrite, settings.passivePorts == nil {
            logger.info("fixed mode without PassivePorts forwards only the control connection: transfers will fail")
        }
        if isStopped { return }
        let connector = SSHConnector(settings: settings, logger: logger)
        let (session, hostKey, credential) = try connector.connectFirst()
        let userTimeout = settings.serverAliveInterval > 0 ? settings.serverAliveInterval * max(1, settings.serverAliveCountMax) : nil
        if let userTimeout { TCPOptions.setUserTimeout(session.socket, seconds: userTimeout) }
        var configuration = ForwardingLoop.Configuration(
            dataWindow: settings.dataWindow, keepaliveInterval: settings.serverAliveInterval,
            keepaliveCountMax: settings.serverAliveCountMax,
            controlFilter: rewrite ? RewriteControl.factory(settings: settings, logger: logger, activity: activity,
                                                            transferLogLevel: ownConnections ? .info : .notice)
                : FixedModeControl.factory(logger: logger),
            bindAddress: settings.bindAddress,
            dataPorts: rewrite ? settings.passivePorts.map { $0.lower...$0.upper } : nil)
        if let budget = Self.probeBudgetOverride { configuration.keepaliveProbeBudget = budget }
        if let timeout = Self.listenerTimeoutOverride { configuration.unusedListenerTimeout = timeout }
        if settings.dataWindowAuto { configuration.dataWindowMaximum = settings.dataWindowMax }
        configuration.connectionLogLevel = ownConnections || rewrite ? .info : .notice
        configuration.activity = activity
        configuration.earlyDataChannel = rewrite && settings.earlyDataChannel
        if settings.reconnect {
            configuration.reconnect = ReconnectPolicy(attempts: settings.reconnectAttempts,
                                                      waitForSession: TimeInterval(settings.connectTimeout ?? 30))
            if !credential.isReusable {
                logger.notice("Reconnect is not possible: the login used keyboard-interactive authentication, whose answers cannot be reused without asking again; if the SSH session is lost the tunnel exits (status 6)")
            }
        }
        if credential.isReusable {
            // Further sessions for channels stuck behind a slow open: same host key, same credential, no prompt.
            configuration.openLane = { [logger] in
                let session = try connector.connectAnother(hostKey: hostKey, credential: credential,
                                                           number: SessionPoolError.laterSession)
                if let userTimeout { TCPOptions.setUserTimeout(session.socket, seconds: userTimeout) }
                logger.debug("extra SSH session authenticated")
                return session
            }
        }
        let pool = try makePool(connector: connector, hostKey: hostKey, credential: credential, wakeUp: wakeUp,
                                configuration: configuration, userTimeout: userTimeout)
        for listener in listeners { try listener.listen() }
        if isStopped { _ = pool?.finish(nil); return }
        markForwarding()
        onReady(TunnelReady(localPort: listeners[0].port, bindAddress: settings.bindAddress,
                            passivePorts: settings.passivePorts, onDemand: rewrite))

        var loopLogger = logger
        if pool != nil { loopLogger[metadataKey: "session"] = "1" }
        let loop = ForwardingLoop(
            session: session, listeners: listeners, configuration: configuration,
            wakeUp: wakeUp, logger: loopLogger, shouldStop: { [unowned self] in self.isStopped || pool?.isEnding == true })
        if let pool {
            loop.pool = PoolLink(member: pool.first, dispatcher: pool.dispatcher)
            pool.start()
        }
        var loopError: Error?
        do { try loop.run() } catch { loopError = error }
        if let pool, let error = pool.finish(loopError) { throw error }
        if let loopError { throw loopError }
        session.disconnect(reason: "ftptunnel stopped")
        logger.info("tunnel stopped")
    }

    /// Mode sftp: listeners bound, the first session checks the host key, authenticates (the credential must be
    /// reusable: every FTP session opens its own SSH session) and resolves SFTPRoot; then the bridge serves.
    private func runBridge(wakeUp: WakeUpPipe, onReady: @escaping @Sendable (TunnelReady) -> Void) throws {
        let listeners = try bindListeners(forwardedPorts: nil)
        if isStopped { return }
        let connector = SSHConnector(settings: settings, logger: logger)
        let (session, hostKey, credential) = try connector.connectFirst()
        guard credential.isReusable else { throw BridgeError.loginNotRepeatable }
        let root = try SFTPBridge.resolveRoot(on: session, settings: settings)
        let bridge = try SFTPBridge(settings: settings, connector: connector, hostKey: hostKey, credential: credential,
                                root: root, logger: logger, activity: activity)
        // Temporary uploads an earlier bridge for this destination could not remove (see UploadLeftovers).
        if let sftp = try? SFTPSession(session: session) { bridge.leftovers.sweep(sftp) }
        session.disconnect(reason: "checked SFTP")
        for listener in listeners { try listener.listen() }
        if isStopped { return }
        markForwarding()
        onReady(TunnelReady(localPort: listeners[0].port, bindAddress: settings.bindAddress, sftpRoot: bridge.rootText))
        bridge.serve(listeners: listeners, wakeUp: wakeUp, shouldStop: { [unowned self] in self.isStopped })
        logger.info("bridge stopped")
    }

    /// Thread-safe: asks `run` to stop accepting, close channels, disconnect and return.
    func stop() {
        lock.lock()
        stopped = true
        let pool = self.pool
        lock.unlock()
        wakeUp?.wake()
        pool?.wakeAll()
    }

    /// Sessions 2…N (`Sessions N`), connected before the tunnel reports ready; nil for one session.
    /// Keyboard-interactive answers cannot be replayed, so such a login keeps the tunnel at one session.
    private func makePool(connector: SSHConnector, hostKey: PoolHostKey, credential: SSHCredential, wakeUp: WakeUpPipe,
                          configuration: ForwardingLoop.Configuration, userTimeout: Int?) throws -> SessionPool? {
        guard settings.sessions > 1 else { return nil }
        guard credential.isReusable else {
            logger.notice("Sessions \(settings.sessions) ignored: the login used keyboard-interactive authentication, whose answers cannot be reused for further sessions without asking again; the tunnel uses one SSH session")
            return nil
        }
        let pool = try SessionPool(count: settings.sessions, connector: connector, hostKey: hostKey, credential: credential,
                                   firstWakeUp: wakeUp, configuration: configuration, userTimeout: userTimeout,
                                   shouldStop: { [unowned self] in self.isStopped })
        lock.withLock { self.pool = pool }
        return pool
    }

    /// True once listeners accept connections; before that a signal simply ends the process (nothing to close,
    /// and blocking SSH set-up or a prompt cannot be interrupted otherwise).
    var isForwarding: Bool {
        lock.lock(); defer { lock.unlock() }
        return forwarding
    }

    private func markForwarding() {
        lock.lock(); forwarding = true; lock.unlock()
    }

    private var isStopped: Bool {
        lock.lock(); defer { lock.unlock() }
        return stopped
    }

    /// Control listener first (plus [::1] in rewrite and sftp mode, see `bindIPv6Control`), then one per forwarded passive
    /// port (fixed mode): `bindAddress:p → FTPHost:p`.
    private func bindListeners(forwardedPorts: PortRange?) throws -> [LocalListener] {
        let address = settings.bindAddress
        let control = ForwardTarget(host: settings.ftpHost, port: settings.ftpPort)
        var listeners: [LocalListener] = []
        if let port = settings.localPort {
            listeners.append(try LocalListener(address: address, port: port, target: control, isControl: true))
        } else {
            do {
                listeners.append(try LocalListener(address: address, port: Self.preferredControlPort, target: control, isControl: true))
            } catch {
                logger.debug("port \(Self.preferredControlPort) not available (\(error)); using \(Self.fallbackControlPort)")
                listeners.append(try LocalListener(address: address, port: Self.fallbackControlPort, target: control, isControl: true))
            }
        }
        if settings.mode != .fixed, let ipv6 = bindIPv6Control(port: listeners[0].port, target: control) {
            listeners.append(ipv6)
        }
        for port in forwardedPorts.map({ Array($0.ports) }) ?? [] {
            listeners.append(try LocalListener(address: address, port: port, target: ForwardTarget(host: settings.ftpHost, port: port)))
        }
        if !LoopbackAddress.isLocalOnly(bindAddress: address) {
            logger.warning("listening on \(address), not loopback only: anyone who can reach this address can use the tunnel")
        }
        return listeners
    }

    /// `localhost` may resolve to ::1: with the default IPv4 loopback bind address, the control port is also
    /// offered on [::1] (same port) when the host has IPv6 loopback. Failing to bind it is not fatal.
    private func bindIPv6Control(port: Int, target: ForwardTarget) -> LocalListener? {
        guard settings.bindAddress == "127.0.0.1" else { return nil }
        do {
            return try LocalListener(address: "::1", port: port, target: target, isControl: true)
        } catch {
            logger.debug("not listening on [::1]:\(port): \(error)")
            return nil
        }
    }
}

/// Socket options for the SSH connection.
enum TCPOptions {
    /// TCP_USER_TIMEOUT: the kernel drops the connection when sent data (e.g. a keepalive) stays unacknowledged
    /// this long (ServerAliveInterval × ServerAliveCountMax): the guard for a server that is gone, beside
    /// `ServerAliveMonitor` for one that is still acknowledging but no longer answering.
    static func setUserTimeout(_ fd: Int32, seconds: Int) {
        let millis = UInt32(clamping: seconds * 1000)
        PosixSocket.setUserTimeout(fd, milliseconds: millis)
    }
}
