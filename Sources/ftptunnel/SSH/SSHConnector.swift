import Foundation
import Logging
import TunnelCore

/// Brings one SSH session up from settings: the connection (TCP, ProxyCommand, or through the ProxyJump bastions,
/// rebuilt for every session), algorithm preferences, handshake, host-key check, authentication. Returns a session
/// in blocking mode.
struct SSHConnector {
    let settings: TunnelSettings
    let logger: Logger
    var environment: [String: String] = ProcessInfo.processInfo.environment
    /// Where the session's bytes go: the network per settings, or a socket a bastion's pump already serves.
    var transport: Transport = .network
    /// The bastions' host keys and credentials, shared by every copy of this connector (and by one made for the
    /// same site with other settings, which passes it on).
    let hopMemory: HopMemory

    enum Transport {
        /// TCP to the host, or settings' ProxyCommand, or the ProxyJump chain.
        case network
        /// One end of a socket pair whose other end `carrier` serves (used once).
        case carried(socket: Int32, carrier: SessionCarrier)
    }

    init(settings: TunnelSettings, logger: Logger, environment: [String: String] = ProcessInfo.processInfo.environment,
         transport: Transport = .network, hopMemory: HopMemory = HopMemory()) {
        self.settings = settings
        self.hopMemory = hopMemory
        self.logger = logger
        self.environment = environment
        self.transport = transport
    }

    func connect() throws -> SSHSession { try connectFirst().session }

    /// The first (or only) session: host key checked against known_hosts (prompting or recording as the policy
    /// says), authentication that may prompt. Returns the host key and the credential for further sessions.
    func connectFirst() throws -> (session: SSHSession, hostKey: PoolHostKey, credential: SSHCredential) {
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? PathExpansion.home
        let prompt = SecretPrompt(environment: environment)
        let verifier = HostKeyVerifier(settings: settings, prompt: prompt, logger: logger, home: home)
        let (session, key) = try open(preferringKeyTypes: try verifier.preferredKeyTypes())
        try verifier.verify(keyType: key.type, blob: key.blob)
        let credential = try Authenticator(settings: settings, prompt: prompt, logger: logger, environment: environment, home: home)
            .authenticate(session)
        logger.info("authenticated", metadata: ["ssh": "\(settings.user)@\(settings.sshHost):\(settings.sshPort)"])
        return (session, key, credential)
    }

    /// A further session of a pool: the server must present exactly `hostKey` (else refused), and `credential`
    /// authenticates without prompting.
    func connectAnother(hostKey: PoolHostKey, credential: SSHCredential, number: Int) throws -> SSHSession {
        let (session, key) = try open(preferringKeyTypes: [hostKey.type])
        guard key == hostKey else {
            throw SessionPoolError.hostKeyDiffers(session: number, first: hostKey.fingerprint, presented: key.fingerprint)
        }
        try credential.replay(on: session, user: settings.user)
        logger.info("authenticated", metadata: ["ssh": "\(settings.user)@\(settings.sshHost):\(settings.sshPort)",
                                                "session": "\(number)", "method": "\(credential.methodName)"])
        return session
    }

    /// TCP connect, algorithm preferences, handshake; returns the session and the key the server presented.
    private func open(preferringKeyTypes knownKeyTypes: [String]) throws -> (SSHSession, PoolHostKey) {
        logger.info("connecting", metadata: ["ssh": "\(settings.user)@\(settings.sshHost):\(settings.sshPort)"])
        let (session, proxy) = try makeSession()
        try applyAlgorithmPreferences(session, knownKeyTypes: knownKeyTypes)
        do {
            try session.handshake()
        } catch let error as SSHError {
            // A ProxyCommand that died explains the failed handshake better than libssh2 can.
            if let proxy, let status = proxy.exitStatus(within: 500) {
                throw SSHError.proxyCommandFailed(command: proxy.command, reason: "it exited with status \(status) before the SSH handshake completed (\(error))")
            }
            throw error
        }
        guard let key = session.hostKey() else {
            throw SSHError.handshakeFailed(host: settings.sshHost, port: settings.sshPort, reason: "the server sent no host key")
        }
        return (session, PoolHostKey(type: key.type, blob: key.blob))
    }

    /// The session on its connection; the ProxyCommand carrier when one carries it directly.
    private func makeSession() throws -> (SSHSession, ProxyCommandCarrier?) {
        let (host, port, timeout) = (settings.sshHost, settings.sshPort, settings.connectTimeout)
        let stepTimeout = timeout ?? JumpChain.defaultStepTimeout
        switch transport {
        case .carried(let socket, let carrier):
            return (try SSHSession(host: host, port: port, socket: socket, carrier: carrier, connectTimeout: stepTimeout), nil)
        case .network where !settings.jumpHosts.isEmpty:
            let (socket, carrier) = try JumpChain(settings: settings, logger: logger, environment: environment,
                                                  memory: hopMemory).open()
            return (try SSHSession(host: host, port: port, socket: socket, carrier: carrier, connectTimeout: stepTimeout), nil)
        case .network:
            guard let command = settings.proxyCommand else {
                return (try SSHSession(host: host, port: port, connectTimeout: timeout), nil)
            }
            let (carrier, socket) = try ProxyCommandCarrier.start(command, logger: logger)
            return (try SSHSession(host: host, port: port, socket: socket, carrier: carrier, connectTimeout: stepTimeout), carrier)
        }
    }

    private func applyAlgorithmPreferences(_ session: SSHSession, knownKeyTypes: [String]) throws {
        if let names = Self.names(settings.kexAlgorithms) { try session.prefer(.kex, names, keyword: "KexAlgorithms") }
        if let names = Self.names(settings.ciphers) {
            try session.prefer(.cipherClientToServer, names, keyword: "Ciphers")
            try session.prefer(.cipherServerToClient, names, keyword: "Ciphers")
        }
        if let names = Self.names(settings.macs) {
            try session.prefer(.macClientToServer, names, keyword: "MACs")
            try session.prefer(.macServerToClient, names, keyword: "MACs")
        }
        // Host-key algorithms: what known_hosts holds for this host first (libssh2 would otherwise pick ECDSA
        // and report a false "changed"/"unknown" for a host recorded with ed25519).
        let supported = session.supported(.hostKey)
        var hostKeys = Self.names(settings.hostKeyAlgorithms) ?? []
        if hostKeys.isEmpty {
            let known = knownKeyTypes.filter(supported.contains)
            if !known.isEmpty { hostKeys = known + supported.filter { !known.contains($0) } }
        } else {
            let known = hostKeys.filter(knownKeyTypes.contains)
            hostKeys = known + hostKeys.filter { !known.contains($0) }
        }
        if !hostKeys.isEmpty { try session.prefer(.hostKey, hostKeys, keyword: "HostKeyAlgorithms") }
    }

    /// An OpenSSH algorithm list; `+`/`^` prefixed lists are taken as plain lists, `-` lists keep libssh2's defaults.
    static func names(_ list: [String]?) -> [String]? {
        guard var list, !list.isEmpty else { return nil }
        if let first = list.first, first.hasPrefix("-") { return nil }
        if let first = list.first, first.hasPrefix("+") || first.hasPrefix("^") { list[0] = String(first.dropFirst()) }
        let flat = list.flatMap { $0.split(separator: ",").map(String.init) }.filter { !$0.isEmpty }
        return flat.isEmpty ? nil : flat
    }
}
