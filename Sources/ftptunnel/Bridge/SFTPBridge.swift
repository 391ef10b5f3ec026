import FTPServerKit
import Foundation
import Logging
import Posix
import FTPCore
import TunnelCore

/// Mode sftp: an FTP server on loopback whose files come over SFTP from the SSH host. Each accepted control
/// connection (from this process's own uid only) gets a thread and its own SFTP channel, on an SSH session it
/// shares with up to three other FTP sessions (`SharedSessions`: same host key, same credential, no prompt; a new
/// FTP session on a session already open needs no SSH handshake). The channel is owned until the FTP session ends
/// (`SFTPLink` replaces it when its SSH session dies, so the FTP session goes on). Every libssh2 call on a shared
/// session goes through its `SessionGate`, which never holds the session while a call waits for the server, so one
/// FTP session's slow transfer does not stall the others.
final class SFTPBridge: @unchecked Sendable {
    /// Simultaneous FTP sessions (each holds an SFTP channel; `SharedSessions.channelsPerSession` of them share an
    /// SSH connection, so at most 16 SSH sessions).
    static let maximumSessions = 64
    /// Upper bound for every blocking SSH/SFTP call of a session.
    static let sshTimeout = 60.0
    static let idleTimeout = 300.0
    static let dataTimeout = 60.0
    /// Passive ports when PassivePorts is not set: the top of the dynamic range.
    static let defaultPassivePorts = PortRange(lower: 50000, upper: 59999)!
    /// SSH connect and handshake bound for each FTP session's SSH session when ConnectTimeout is not set.
    static let defaultConnectTimeout = 30
    /// Time sessions get to finish after stop() before their transfers are aborted.
    static let stopGrace = 3.0
    static let threadStackSize = 4 << 20
    /// SSH logins in progress at once: OpenSSH's MaxStartups (default 10:30:100) starts dropping unauthenticated
    /// connections beyond 10, so a burst of FTP connections logs in a few at a time.
    static let concurrentLogins = 4

    let settings: TunnelSettings
    let connector: SSHConnector
    let hostKey: PoolHostKey
    let credential: SSHCredential
    /// The server's canonical path of SFTPRoot.
    let root: [UInt8]
    let logger: Logger
    /// Temporary upload names whose SSH session died, removed by the next session that works.
    let leftovers: UploadLeftovers
    /// What `ftptunnel status` shows: FTP sessions (control connections) and transfers in progress.
    let activity: TunnelActivity?
    private let shutdown: ShutdownSignal
    /// Guards `active` and `nextID`; signalled when a session ends.
    private let sessionsChanged = NSCondition()
    private var active = 0
    private var nextID = 0
    private let logins = DispatchSemaphore(value: SFTPBridge.concurrentLogins)
    /// SSH logins so far (numbers them in the log); guarded by `sessionsChanged`.
    private var loginsMade = 1
    /// The SSH sessions the FTP sessions share.
    private(set) var sessions: SharedSessions!

    init(settings: TunnelSettings, connector: SSHConnector, hostKey: PoolHostKey, credential: SSHCredential,
         root: [UInt8], logger: Logger, activity: TunnelActivity? = nil) throws(PosixError) {
        shutdown = try ShutdownSignal()
        self.settings = settings
        self.activity = activity
        var bounded = connector
        if settings.connectTimeout == nil {
            var withTimeout = settings
            withTimeout.connectTimeout = SFTPBridge.defaultConnectTimeout
            bounded = SSHConnector(settings: withTimeout, logger: connector.logger, environment: connector.environment,
                                   hopMemory: connector.hopMemory)
        }
        self.connector = bounded
        self.hostKey = hostKey
        self.credential = credential
        self.root = root
        self.logger = logger
        leftovers = UploadLeftovers(destination: "\(settings.user)@\(settings.sshHost):\(settings.sshPort)",
                                    environment: ProcessInfo.processInfo.environment, logger: logger)
        sessions = SharedSessions(waitLimit: TimeInterval(settings.connectTimeout ?? SFTPBridge.defaultConnectTimeout) * 2,
                                  logger: logger) { [unowned self] in try connectSession() }
    }

    /// Checks, on the first (authenticated) session, that the server offers SFTP and that SFTPRoot is a directory;
    /// returns the root's canonical path.
    static func resolveRoot(on session: SSHSession, settings: TunnelSettings) throws -> [UInt8] {
        let sftp: SFTPSession
        do { sftp = try SFTPSession(session: session) } catch {
            throw BridgeError.noSFTP(host: settings.sshHost, reason: "\(error)")
        }
        let requested = settings.sftpRoot ?? "."
        do {
            let root = try sftp.realPath(PathName.bytes(requested))
            guard try sftp.attributes(root).kind == .directory else {
                throw BridgeError.rootUnusable(root: requested, reason: "not a directory")
            }
            try sftp.openDirectory(root).close()
            return root
        } catch let failure as SFTPFailure {
            throw BridgeError.rootUnusable(root: requested, reason: failure.statusText ?? failure.message)
        }
    }

    var rootText: String { String(decoding: root, as: UTF8.self) }

    /// Accepts connections until `shouldStop` (checked whenever `wakeUp` fires), then ends every session.
    func serve(listeners: [LocalListener], wakeUp: WakeUpPipe, shouldStop: () -> Bool) {
        while !shouldStop() {
            var fds = listeners.map { pollfd($0.fd, POLLIN) } + [pollfd(wakeUp.readFD, POLLIN)]
            _ = try? PosixPoll.poll(&fds, milliseconds: -1)
            if fds.last!.revents != 0 { wakeUp.drain(); continue }
            for (index, listener) in listeners.enumerated() where fds[index].revents != 0 {
                guard case .done(let (client, peer))? = try? PosixSocket.accept(listener.fd, nonBlocking: false) else { continue }
                admit(client, peer: peer, local: listener.local)
            }
        }
        stopSessions()
    }

    private func admit(_ client: Int32, peer: SocketAddress?, local: SocketAddress) {
        guard let peer else { return refuse(client, "Cannot tell who is connecting.", closing: true) }
        let owner: UInt32?
        do { owner = try SocketTable.owner(of: peer, connectedTo: local) } catch {
            logger.warning("connection from \(peer) refused: the kernel's socket table cannot tell who owns it (\(error))")
            return refuse(client, "This FTP bridge cannot tell which local user is connecting; try again.", closing: true)
        }
        guard owner == PosixIdentity.userID else {
            logger.warning("connection from \(peer) refused: its socket belongs to uid \(owner.map(String.init) ?? "unknown"), not \(PosixIdentity.userID)")
            return refuse(client, "This FTP bridge serves its owner's SSH account; connections from other local users are refused.",
                          closing: true)
        }
        let id: Int? = sessionsChanged.withLock {
            guard active < SFTPBridge.maximumSessions else { return nil }
            active += 1
            nextID += 1
            return nextID
        }
        guard let id else {
            logger.warning("session limit (\(SFTPBridge.maximumSessions)) reached, refusing \(peer)")
            return refuse(client, "Too many FTP sessions (limit \(SFTPBridge.maximumSessions)); try again later.", closing: true)
        }
        let thread = Thread { [self] in
            activity?.connectionOpened(control: true)
            defer { activity?.connectionClosed(control: true) }
            serveSession(client, id: id, peer: peer, local: local)
            PosixDescriptor.close(client)  // the one close of a served connection
            sessionsChanged.withLock {
                active -= 1
                sessionsChanged.broadcast()
            }
        }
        thread.stackSize = SFTPBridge.threadStackSize
        thread.start()
    }

    /// One FTP session: its own SSH session and SFTP channel, then the FTP engine until the client leaves.
    private func serveSession(_ client: Int32, id: Int, peer: SocketAddress, local: SocketAddress) {
        var logger = self.logger
        logger[metadataKey: "ftp-session"] = "\(id)"
        PosixSocket.setNoDelay(client)
        PosixSocket.setSendTimeout(client, seconds: SFTPBridge.idleTimeout)
        let sftp: SFTPSession
        let open: SFTPLink.Opener = { [self] in try openSFTP() }
        do {
            sftp = try open()
        } catch {
            logger.error("cannot open the SSH/SFTP session: \(error)")
            return refuse(client, "Cannot reach the SFTP server: \(error).", closing: false)
        }
        let link = SFTPLink(first: sftp, policy: reconnectPolicy, aliveInterval: settings.serverAliveInterval,
                            aliveCountMax: settings.serverAliveCountMax, stopFD: shutdown.drainFD, logger: logger, open: open,
                            release: { [sessions] in sessions!.release($0) })
        defer { link.close() }
        // Released (SFTP shut down, then the SSH session disconnected) when the session below ends.
        let sessionSettings = SessionSettings(
            passivePorts: settings.passivePorts ?? SFTPBridge.defaultPassivePorts, passiveAddress: "127.0.0.1",
            idleTimeout: SFTPBridge.idleTimeout, dataTimeout: SFTPBridge.dataTimeout, loginFailureDelay: 0,
            serverName: "ftptunnel SFTP bridge to \(settings.user)@\(settings.sshHost) (any user name, no password)",
            extraCommands: [.activeMode, .siteChmod, .modifyTime])
        let authority = BridgeAuthority(store: SFTPFileStore(link: link, root: root, leftovers: leftovers,
                                                             uploadVisibility: settings.sftpUploads,
                                                             streams: settings.sftpStreams),
                                        rootDescription: "sftp://\(settings.user)@\(settings.sshHost):\(settings.sshPort)\(rootText)")
        let session = Session(id: id, settings: sessionSettings, authority: authority, shutdown: shutdown, input: client,
                              output: client, localHost: local.host, peerHost: peer.host, logger: logger)
        session.transferObserver = activity.map { BridgeTransferObserver(activity: $0) }
        session.run()
    }

    /// How a lost SSH session is replaced (`Reconnect`, `ReconnectAttempts`); a command waits for it at most
    /// ConnectTimeout (default 30 s); nil without Reconnect.
    var reconnectPolicy: ReconnectPolicy? {
        guard settings.reconnect else { return nil }
        return ReconnectPolicy(attempts: settings.reconnectAttempts,
                               waitForSession: TimeInterval(settings.connectTimeout ?? SFTPBridge.defaultConnectTimeout))
    }

    /// A new SFTP channel on a shared SSH session; temporary uploads left by dead sessions are removed on it.
    private func openSFTP() throws -> SFTPSession {
        let sftp = try sessions.openChannel()
        sftp.callTimeout = SFTPBridge.sshTimeout
        leftovers.sweep(sftp)
        return sftp
    }

    /// A new SSH session for `sessions` (the host key verified at start, the credential replayed without a prompt;
    /// a few logins at a time).
    private func connectSession() throws -> SSHSession {
        logins.wait()
        defer { logins.signal() }
        let session = try connector.connectAnother(hostKey: hostKey, credential: credential, number: sessionsChanged.withLock { () -> Int in
            loginsMade += 1
            return loginsMade
        })
        if settings.serverAliveInterval > 0 {
            TCPOptions.setUserTimeout(session.socket, seconds: settings.serverAliveInterval * max(1, settings.serverAliveCountMax))
        }
        return session
    }

    /// A 421 on a connection that will not be served (one line: the socket buffer takes it without waiting);
    /// `closing` when the caller does not close the socket itself.
    private func refuse(_ client: Int32, _ text: String, closing: Bool) {
        let wire = Array(Reply(ReplyCode.serviceNotAvailable, text).wire.utf8)
        PosixSocket.setNonBlocking(client)
        _ = wire.withUnsafeBytes { try? PosixSocket.send(client, $0) }
        if closing { PosixDescriptor.close(client) }
    }

    /// Idle sessions end at once; transfers get `stopGrace`, then are aborted (partial uploads dropped).
    private func stopSessions() {
        shutdown.drain()
        waitForSessions(seconds: SFTPBridge.stopGrace)
        shutdown.abort()
        waitForSessions(seconds: SFTPBridge.stopGrace)
        sessions?.stop()
    }

    private func waitForSessions(seconds: Double) {
        let deadline = Date(timeIntervalSinceNow: seconds)
        sessionsChanged.withLock {
            while active > 0, sessionsChanged.wait(until: deadline) {}
        }
    }
}
