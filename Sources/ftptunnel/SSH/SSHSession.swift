import CLibSSH2
import Foundation
import Posix

/// One libssh2 session over one TCP connection, or over a socket pair whose other end a `SessionCarrier` serves
/// (a bastion's channel, a ProxyCommand). Not thread-safe: one thread owns it and all its channels
/// (libssh2 is not thread-safe per session), or, for the bridge's SFTP channels, every call through `gate`.
/// Set-up and authentication run in blocking mode; the forwarding loop and the gate switch to non-blocking.
final class SSHSession {
    let handle: SessionHandle
    let socket: Int32
    let host: String
    let port: Int
    /// Receives keyboard-interactive prompts and counts received bytes; its address is libssh2's "abstract" pointer.
    let interactive = KeyboardInteractiveResponder()

    /// Bytes libssh2 has taken from the socket so far.
    var bytesReceived: Int { interactive.bytesReceived }
    private var disconnected = false
    /// The door for threads sharing this session (`SFTPSession` and its handles call only through it).
    let gate: SessionGate
    /// What carries the session when it is not plain TCP; finished once the socket is closed.
    private let carrier: SessionCarrier?
    /// Upper bound for the goodbye message to a server that may no longer read.
    static let disconnectTimeoutMilliseconds: Int = 2000

    convenience init(host: String, port: Int, connectTimeout: Int?) throws {
        try LibSSH2.initialiseOnce()
        let socket = try TCPConnector(host: host, port: port, timeout: connectTimeout).connect()
        try self.init(host: host, port: port, socket: socket, carrier: nil, connectTimeout: connectTimeout)
    }

    /// A session on `socket`, which it owns from now on (closed on failure too); `carrier` is finished after it.
    init(host: String, port: Int, socket: Int32, carrier: SessionCarrier?, connectTimeout: Int?) throws {
        try LibSSH2.initialiseOnce()
        self.host = host
        self.port = port
        self.socket = socket
        self.carrier = carrier
        let abstract = Unmanaged.passUnretained(interactive).toOpaque()
        guard let handle = libssh2_session_init_ex(nil, nil, nil, abstract) else {
            PosixDescriptor.close(socket)
            carrier?.finish()
            throw SSHError.handshakeFailed(host: host, port: port, reason: "libssh2 could not allocate a session")
        }
        self.handle = handle
        gate = SessionGate(handle: handle, socket: socket, received: { [interactive] in interactive.bytesReceived })
        _ = libssh2_session_callback_set(handle, LIBSSH2_CALLBACK_RECV, unsafeBitCast(countingReceive, to: UnsafeMutableRawPointer.self))
        _ = libssh2_session_callback_set(handle, LIBSSH2_CALLBACK_DISCONNECT,
                                         unsafeBitCast(disconnectCallback, to: UnsafeMutableRawPointer.self))
        libssh2_session_set_blocking(handle, 1)
        if let connectTimeout { libssh2_session_set_timeout(handle, connectTimeout * 1000) }
    }

    deinit {
        if !disconnected {
            libssh2_session_set_blocking(handle, 1)
            libssh2_session_set_timeout(handle, Self.disconnectTimeoutMilliseconds)
            _ = libssh2_session_disconnect_ex(handle, SSH_DISCONNECT_BY_APPLICATION, "ftptunnel closing", "")
        }
        libssh2_session_free(handle)
        PosixDescriptor.close(socket)
        carrier?.finish()
    }

    // MARK: Algorithms

    enum Method: CaseIterable {
        case kex, hostKey, cipherClientToServer, cipherServerToClient, macClientToServer, macServerToClient
        var code: Int32 {
            switch self {
            case .kex: return LIBSSH2_METHOD_KEX
            case .hostKey: return LIBSSH2_METHOD_HOSTKEY
            case .cipherClientToServer: return LIBSSH2_METHOD_CRYPT_CS
            case .cipherServerToClient: return LIBSSH2_METHOD_CRYPT_SC
            case .macClientToServer: return LIBSSH2_METHOD_MAC_CS
            case .macServerToClient: return LIBSSH2_METHOD_MAC_SC
            }
        }
    }

    /// Algorithm names libssh2 implements for `method`.
    func supported(_ method: Method) -> [String] {
        var list: UnsafeMutablePointer<UnsafePointer<CChar>?>?
        let count = libssh2_session_supported_algs(handle, method.code, &list)
        guard count > 0, let list else { return [] }
        defer { libssh2_free(handle, list) }
        return (0..<Int(count)).compactMap { list[$0].map { String(cString: $0) } }
    }

    /// Restricts `method` to `names` (in order). Throws when libssh2 supports none of them, naming `keyword`.
    func prefer(_ method: Method, _ names: [String], keyword: String) throws {
        let available = supported(method)
        let usable = names.filter(available.contains)
        guard !usable.isEmpty else {
            throw SSHError.noSupportedAlgorithm(keyword: keyword, requested: names, supported: available)
        }
        try LibSSH2.callBlocking(handle, "libssh2_session_method_pref") {
            libssh2_session_method_pref(handle, method.code, usable.joined(separator: ","))
        }
    }

    // MARK: Handshake and host key

    func handshake() throws {
        do {
            try LibSSH2.callBlocking(handle, "libssh2_session_handshake") { libssh2_session_handshake(handle, socket) }
        } catch let failure as LibSSH2Failure {
            throw SSHError.handshakeFailed(host: host, port: port, reason: failure.message)
        }
    }

    /// The server's host key blob and its type name (the blob's first string, e.g. `ssh-ed25519`).
    func hostKey() -> (type: String, blob: [UInt8])? {
        var length = 0
        var type: Int32 = 0
        guard let key = libssh2_session_hostkey(handle, &length, &type), length > 0 else { return nil }
        let blob = key.withMemoryRebound(to: UInt8.self, capacity: length) { Array(UnsafeBufferPointer(start: $0, count: length)) }
        guard let name = SSHWire.firstString(blob) else { return nil }
        return (name, blob)
    }

    // MARK: Authentication primitives (blocking)

    /// Methods the server accepts for `user` (empty when "none" already succeeded).
    func authenticationMethods(user: String) throws -> [String] {
        if let list = libssh2_userauth_list(handle, user, UInt32(user.utf8.count)) {
            return String(cString: list).split(separator: ",").map(String.init)
        }
        if libssh2_userauth_authenticated(handle) != 0 { return [] }
        throw LibSSH2.failure(handle, "libssh2_userauth_list", code: libssh2_session_last_errno(handle))
    }

    var isAuthenticated: Bool { libssh2_userauth_authenticated(handle) != 0 }

    /// How one authentication attempt ended.
    enum AuthOutcome: Equatable {
        case success
        /// The server refused (wrong key, wrong password, method not allowed).
        case denied
        /// The private key could not be read: wrong passphrase or unsupported format.
        case unreadableKey(String)
    }

    func authenticate(user: String, password: String) throws -> AuthOutcome {
        try authAttempt("libssh2_userauth_password_ex") {
            libssh2_userauth_password_ex(handle, user, UInt32(user.utf8.count), password, UInt32(password.utf8.count), nil)
        }
    }

    /// Keyboard-interactive authentication; `interactive.answer` supplies the responses.
    func authenticateKeyboardInteractive(user: String) throws -> AuthOutcome {
        try authAttempt("libssh2_userauth_keyboard_interactive_ex") {
            libssh2_userauth_keyboard_interactive_ex(handle, user, UInt32(user.utf8.count), keyboardInteractiveCallback)
        }
    }

    /// Public-key authentication with a blob of our choosing and a signer of our own (DESIGN §7): libssh2 takes
    /// the request's algorithm name from the blob's first string (`rsa-sha2-512`, or a certificate type) and
    /// calls `signer` with the bytes to sign only after the server accepted the key. A nil signature refuses.
    /// `publicKeyFile` nil and `privateKey` set: libssh2 reads the key file itself (ed25519, ECDSA).
    func authenticate(user: String, blob: [UInt8], signer: PublicKeySigner) throws -> AuthOutcome {
        let box = Unmanaged.passRetained(signer)
        defer { box.release() }
        var abstract: UnsafeMutableRawPointer? = box.toOpaque()
        return try authAttempt("libssh2_userauth_publickey") {
            blob.withUnsafeBufferPointer { bytes in
                libssh2_userauth_publickey(handle, user, bytes.baseAddress, bytes.count, publicKeySignCallback, &abstract)
            }
        }
    }

    /// Public-key authentication from a private key file read by libssh2; `publicKey` (a certificate) is
    /// offered instead of the key's own public half when given.
    func authenticate(user: String, privateKey: String, publicKey: String?, passphrase: String?) throws -> AuthOutcome {
        try authAttempt("libssh2_userauth_publickey_fromfile_ex") {
            libssh2_userauth_publickey_fromfile_ex(handle, user, UInt32(user.utf8.count), publicKey, privateKey, passphrase)
        }
    }

    private func authAttempt(_ function: String, _ body: () -> Int32) throws -> AuthOutcome {
        do {
            try LibSSH2.callBlocking(handle, function, body)
            return .success
        } catch let failure as LibSSH2Failure where failure.code == LIBSSH2_ERROR_FILE {
            return .unreadableKey(failure.message)
        } catch let failure as LibSSH2Failure where failure.isAuthenticationFailure
                    || failure.code == LIBSSH2_ERROR_METHOD_NOT_SUPPORTED || failure.code == LIBSSH2_ERROR_PASSWORD_EXPIRED {
            return .denied
        }
    }

    // MARK: Running

    func setBlocking(_ blocking: Bool) { libssh2_session_set_blocking(handle, blocking ? 1 : 0) }

    /// Upper bound for every blocking call (LIBSSH2_ERROR_TIMEOUT after it); 0 waits forever.
    func setTimeout(seconds: Double) { libssh2_session_set_timeout(handle, Int(seconds * 1000)) }

    /// Which directions the last EAGAIN was waiting for.
    var blockDirections: (inbound: Bool, outbound: Bool) {
        let flags = libssh2_session_block_directions(handle)
        return (flags & LIBSSH2_SESSION_BLOCK_INBOUND != 0, flags & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0)
    }

    /// The server sent SSH_MSG_DISCONNECT (libssh2 reports some of those as an authentication refusal).
    var serverDisconnected: Bool { interactive.disconnectReason != nil }

    /// poll(POLLOUT, 0): room in the socket's send buffer for a small packet.
    var isWritable: Bool {
        (try? PosixPoll.wait(socket, events: Int16(POLLOUT), milliseconds: 0)) ?? false
    }

    /// Keepalives for `ServerAliveMonitor`: want_reply = 1 (the server must answer), and libssh2's own timer at
    /// its shortest (2 s) so that it sends whenever the monitor asks (the monitor spaces probes ≥ 2 s apart).
    func configureProbes() {
        libssh2_keepalive_config(handle, 1, UInt32(ServerAliveMonitor.shortestInterval))
    }

    /// Sends one keepalive; `.done(false)` when libssh2's timer held it back (sent less than 2 s ago).
    func sendKeepalive() throws -> SSHResult<Bool> {
        var next: Int32 = 0
        switch try LibSSH2.call(handle, "libssh2_keepalive_send", { libssh2_keepalive_send(handle, &next) }) {
        case .done: return .done(next == Int32(ServerAliveMonitor.shortestInterval))
        case .wouldBlock: return .wouldBlock
        }
    }

    /// Bytes the server sent so far: those libssh2 took from the socket plus those still waiting in it (nobody
    /// reads the socket while no channel wants data, yet they prove the server is alive).
    var bytesArrived: Int { bytesReceived + unreadBytes }

    /// Seconds since the last data segment from the server reached the socket (TCP_INFO), whoever read it.
    var secondsSinceServerData: TimeInterval {
        PosixSocket.millisecondsSincePeerData(socket).map { TimeInterval($0) / 1000 } ?? 0
    }

    /// Bytes waiting in the socket for libssh2 to read (FIONREAD).
    var unreadBytes: Int { PosixSocket.unreadBytes(socket) }

    /// Opens a `direct-tcpip` channel to host:port (RFC 4254 §7.2) with the given receive window.
    func openDirectTCPIP(host: String, port: Int, originatorHost: String, originatorPort: Int,
                         window: Int, packetSize: Int) throws -> SSHResult<SSHChannel> {
        var message = SSHWire()
        message.appendString(host)
        message.appendUInt32(UInt32(port))
        message.appendString(originatorHost)
        message.appendUInt32(UInt32(originatorPort))
        let type = "direct-tcpip"
        let result = try message.bytes.withUnsafeBufferPointer { bytes in
            try LibSSH2.callPointer(handle, "libssh2_channel_open_ex") {
                bytes.baseAddress!.withMemoryRebound(to: CChar.self, capacity: bytes.count) { text in
                    libssh2_channel_open_ex(handle, type, UInt32(type.utf8.count), UInt32(window), UInt32(packetSize),
                                            text, UInt32(bytes.count))
                }
            }
        }
        switch result {
        case .done(let channel): return .done(SSHChannel(handle: channel, session: self))
        case .wouldBlock: return .wouldBlock
        }
    }

    /// Opens a `session` channel (RFC 4254 §6.1) with the given receive window, e.g. for a subsystem. libssh2 keeps
    /// one channel open in progress per session: repeat the same call until it completes before opening another.
    func openSessionChannel(window: Int, packetSize: Int) throws -> SSHResult<SSHChannel> {
        let type = "session"
        let result = try LibSSH2.callPointer(handle, "libssh2_channel_open_ex (session)") {
            libssh2_channel_open_ex(handle, type, UInt32(type.utf8.count), UInt32(window), UInt32(packetSize), nil, 0)
        }
        switch result {
        case .done(let channel): return .done(SSHChannel(handle: channel, session: self))
        case .wouldBlock: return .wouldBlock
        }
    }

    func disconnect(reason: String) {
        guard !disconnected else { return }
        disconnected = true
        setBlocking(true)
        libssh2_session_set_timeout(handle, Self.disconnectTimeoutMilliseconds)
        _ = libssh2_session_disconnect_ex(handle, SSH_DISCONNECT_BY_APPLICATION, reason, "")
    }
}

/// The session's libssh2 "abstract" context (same thread as the session): answers keyboard-interactive prompts
/// and counts bytes libssh2 takes from the socket.
final class KeyboardInteractiveResponder {
    /// Bytes libssh2 has read from the SSH socket. When it changes during a pass, packets for any channel may
    /// now sit inside libssh2 where poll() cannot see them: the forwarding loop then makes another pass.
    var bytesReceived = 0

    /// (prompt, echo) → answer; nil cancels.
    var answer: (_ prompt: String, _ echo: Bool) -> String? = { _, _ in nil }
    /// Number of prompts answered so far (the server may loop on wrong answers).
    var rounds = 0
    /// The server's SSH_MSG_DISCONNECT text, once one arrived.
    var disconnectReason: String?
}

/// libssh2's disconnect callback: remembers that the server said goodbye (and why).
private let disconnectCallback: @convention(c) (
    OpaquePointer?, Int32, UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, Int32, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Void = { _, _, message, length, _, _, abstract in
    guard let abstract, let raw = abstract.pointee else { return }
    let text = message.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: Int(max(0, length))), as: UTF8.self) }
    Unmanaged<KeyboardInteractiveResponder>.fromOpaque(raw).takeUnretainedValue().disconnectReason = text ?? ""
}

/// libssh2's recv callback: the default behaviour (`recv`, errors as `-errno`) plus a byte count.
private let countingReceive: @convention(c) (Int32, UnsafeMutableRawPointer?, Int, Int32, UnsafeMutablePointer<UnsafeMutableRawPointer?>?) -> Int = {
    socket, buffer, length, flags, abstract in
    let n = PosixSocket.receiveForCallback(socket, buffer, length, flags)
    if n < 0 { return n }
    if let abstract, let raw = abstract.pointee {
        Unmanaged<KeyboardInteractiveResponder>.fromOpaque(raw).takeUnretainedValue().bytesReceived += n
    }
    return n
}

private let keyboardInteractiveCallback: @convention(c) (
    UnsafePointer<CChar>?, Int32, UnsafePointer<CChar>?, Int32, Int32,
    UnsafePointer<LIBSSH2_USERAUTH_KBDINT_PROMPT>?, UnsafeMutablePointer<LIBSSH2_USERAUTH_KBDINT_RESPONSE>?,
    UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Void = { _, _, _, _, count, prompts, responses, abstract in
    guard let abstract, let raw = abstract.pointee, let prompts, let responses else { return }
    let responder = Unmanaged<KeyboardInteractiveResponder>.fromOpaque(raw).takeUnretainedValue()
    responder.rounds += 1
    for index in 0..<Int(count) {
        let prompt = prompts[index]
        let text = prompt.text.map {
            String(decoding: UnsafeRawBufferPointer(start: $0, count: Int(prompt.length)), as: UTF8.self)
        } ?? ""
        guard let answer = responder.answer(text, prompt.echo != 0) else { continue }
        // libssh2 frees each response with its allocator (malloc by default).
        responses[index].text = strdup(answer)
        responses[index].length = UInt32(answer.utf8.count)
    }
}

/// Signs the bytes libssh2 hands to the public-key callback; the session's thread only.
final class PublicKeySigner {
    private let sign: ([UInt8]) throws -> [UInt8]
    /// Why the last signature was refused (agent gone, agent refused), for the log.
    private(set) var failure: Error?

    init(_ sign: @escaping ([UInt8]) throws -> [UInt8]) { self.sign = sign }

    fileprivate func signature(of data: [UInt8]) -> [UInt8]? {
        do { return try sign(data) } catch { failure = error; return nil }
    }
}

/// libssh2's LIBSSH2_USERAUTH_PUBLICKEY_SIGN_FUNC: the raw signature, in memory libssh2 frees (malloc).
private let publicKeySignCallback: @convention(c) (
    OpaquePointer?, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>?, UnsafeMutablePointer<Int>?,
    UnsafePointer<UInt8>?, Int, UnsafeMutablePointer<UnsafeMutableRawPointer?>?
) -> Int32 = { _, signature, signatureLength, data, dataLength, abstract in
    guard let signature, let signatureLength, let data, let abstract, let raw = abstract.pointee else { return -1 }
    let signer = Unmanaged<PublicKeySigner>.fromOpaque(raw).takeUnretainedValue()
    guard let bytes = signer.signature(of: Array(UnsafeBufferPointer(start: data, count: dataLength))), !bytes.isEmpty,
          let memory = malloc(bytes.count)?.assumingMemoryBound(to: UInt8.self)
    else { return -1 }
    memory.initialize(from: bytes, count: bytes.count)
    signature.pointee = memory
    signatureLength.pointee = bytes.count
    return 0
}
