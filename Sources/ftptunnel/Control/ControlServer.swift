import Foundation
import Logging
import Posix

/// A running tunnel's control socket (`ftptunnel status`, `ftptunnel stop`), served on its own thread so the
/// forwarding loops never wait for it. Each client sends one request line and gets the answer, then the
/// connection closes. Bounded: a request of at most `maximumRequest` bytes, `clientDeadline` per client,
/// at most `maximumClients` at once (more wait in the backlog), answers of at most `maximumAnswer` bytes.
/// Only the tunnel's own uid is served (SO_PEERCRED), on top of the 0600 socket in a 0700 directory.
final class ControlServer: @unchecked Sendable {
    static let maximumRequest = 256
    static let maximumAnswer = 64 << 10
    static let maximumClients = 4
    static let clientDeadline: TimeInterval = 2

    /// What a request line asks (`status`, `stop`) → the answer text.
    typealias Handler = @Sendable (String) -> String

    let path: String
    private let listener: Int32
    private let handler: Handler
    private let logger: Logger
    private let wakeUp: WakeUpPipe
    private let lock = NSLock()
    private var stopping = false
    private var finished = false
    private let done = NSCondition()

    private init(path: String, listener: Int32, handler: @escaping Handler, logger: Logger) throws {
        self.path = path
        self.listener = listener
        self.handler = handler
        self.logger = logger
        wakeUp = try WakeUpPipe()
    }

    /// Binds the socket for `name`, replacing a stale one (left by a killed tunnel: nobody answers it) and
    /// refusing when a live tunnel answers there.
    static func claim(_ location: ControlSocketPath, handler: @escaping Handler, logger: Logger) throws -> ControlServer {
        try location.prepareDirectory()
        let path = location.path
        guard path.utf8.count < PosixLocalSocket.maximumPathLength else { throw ControlSocketError.tooLong(path) }
        for attempt in 0..<2 {
            do {
                let fd = try PosixLocalSocket.listen(path: path, mode: 0o600)
                do {
                    return try ControlServer(path: path, listener: fd, handler: handler, logger: logger)
                } catch {
                    PosixDescriptor.close(fd)
                    throw error
                }
            } catch let error as PosixError where error.code == EADDRINUSE && attempt == 0 {
                if let fd = try? PosixLocalSocket.connect(path: path) {
                    PosixDescriptor.close(fd)
                    throw ControlSocketError.alreadyRunning(name: location.name, path: path)
                }
                logger.info("replacing the stale control socket \(path) (its tunnel is gone)")
                do { try PosixLocalSocket.remove(path: path) } catch {
                    throw ControlSocketError.unusable(path, error.reason)
                }
            } catch let error as PosixError {
                throw ControlSocketError.unusable(path, error.reason)
            }
        }
        throw ControlSocketError.alreadyRunning(name: location.name, path: path)
    }

    func start() {
        let thread = Thread { [self] in serve() }
        thread.name = "ftptunnel control socket"
        thread.start()
    }

    /// Stops serving, waits for the thread (briefly) and removes the socket file.
    func close() {
        lock.withLock { stopping = true }
        wakeUp.wake()
        done.lock()
        let deadline = Date().addingTimeInterval(Self.clientDeadline + 1)
        while !finished && done.wait(until: deadline) {}
        done.unlock()
        try? PosixLocalSocket.remove(path: path)
    }

    private var isStopping: Bool { lock.withLock { stopping } }

    private final class Client {
        let fd: Int32
        let deadline: Date
        var request: [UInt8] = []
        var answer: [UInt8]?
        var sent = 0
        /// Not the tunnel's uid: every request gets the refusal.
        var refused = false
        init(fd: Int32, deadline: Date) {
            self.fd = fd
            self.deadline = deadline
        }
    }

    private func serve() {
        var clients: [Client] = []
        var buffer = [UInt8](repeating: 0, count: Self.maximumRequest)
        defer {
            PosixDescriptor.close(clients.map(\.fd))
            PosixDescriptor.close(listener)
            done.lock(); finished = true; done.broadcast(); done.unlock()
        }
        while !isStopping {
            var fds = [pollfd(fd: wakeUp.readFD, events: Int16(POLLIN), revents: 0)]
            fds.append(pollfd(fd: clients.count < Self.maximumClients ? listener : -1, events: Int16(POLLIN), revents: 0))
            for client in clients {
                fds.append(pollfd(fd: client.fd, events: Int16(client.answer == nil ? POLLIN : POLLOUT), revents: 0))
            }
            let now = Date()
            let timeout = clients.map { ForwardingLoop.milliseconds(until: $0.deadline, now: now) }.min() ?? -1
            guard (try? PosixPoll.poll(&fds, milliseconds: timeout)) != nil else { return }
            if fds[0].revents != 0 { wakeUp.drain() }
            // The clients polled, in fds order (accepting below adds new ones behind them).
            for (index, client) in clients.enumerated() where fds[index + 2].revents != 0 {
                if client.answer == nil { read(client, &buffer) } else { write(client) }
            }
            if fds[1].revents != 0 { acceptClients(&clients) }
            let later = Date()
            clients.removeAll { client in
                let over = client.answer.map { client.sent >= $0.count } ?? false
                guard over || later >= client.deadline || client.sent < 0 else { return false }
                PosixDescriptor.close(client.fd)
                return true
            }
        }
    }

    private func acceptClients(_ clients: inout [Client]) {
        while clients.count < Self.maximumClients,
              case .done(let accepted)? = try? PosixSocket.accept(listener, nonBlocking: true) {
            let uid = PosixLocalSocket.peer(accepted.fd)?.uid
            let client = Client(fd: accepted.fd, deadline: Date().addingTimeInterval(Self.clientDeadline))
            if uid != PosixIdentity.userID {
                // Its request is read (and ignored) before the refusal, so the close does not reset the connection.
                logger.warning("control socket: refused a connection from uid \(uid.map { "\($0)" } ?? "unknown"): only uid \(PosixIdentity.userID) may ask this tunnel")
                client.refused = true
            }
            clients.append(client)
        }
    }

    private func read(_ client: Client, _ buffer: inout [UInt8]) {
        let room = Self.maximumRequest - client.request.count
        let result = buffer.withUnsafeMutableBytes { raw in
            try? PosixSocket.read(client.fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<max(1, room)]))
        }
        switch result {
        case .done(let n)? where n > 0:
            client.request += buffer[0..<n]
        case .wouldBlock?:
            return
        default:
            client.sent = -1
            return
        }
        if let newline = client.request.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: client.request[..<newline], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let answer = client.refused
                ? "error: refused: only the user who started this tunnel (uid \(PosixIdentity.userID)) may use its control socket\n"
                : handler(line)
            client.answer = Array(answer.utf8.prefix(Self.maximumAnswer))
        } else if client.request.count >= Self.maximumRequest {
            client.answer = Array("error: request too long\n".utf8)
        }
    }

    private func write(_ client: Client) {
        guard let answer = client.answer else { return }
        let result = answer.withUnsafeBytes { raw in
            try? PosixSocket.send(client.fd, UnsafeRawBufferPointer(rebasing: raw[client.sent...]))
        }
        switch result {
        case .done(let n)?: client.sent += n
        case .wouldBlock?: break
        case nil: client.sent = -1
        }
    }
}
