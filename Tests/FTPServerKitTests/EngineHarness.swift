import Foundation
import FTPCore
import Logging
import Posix
import Testing
@testable import FTPServerKit

/// One engine `Session` serving a `MemoryFileStore` on one end of a stream socket pair, run on its own thread; the
/// test is the client on the other end. The session ends at end of stream (or QUIT), and `finish` waits for that.
final class EngineConnection {
    /// Bound on every wait of the client side: a reply, the session's end.
    static let seconds = 10.0

    let store: MemoryFileStore
    let client: Int32
    private let ended = DispatchSemaphore(value: 0)
    private var framer = LineFramer()
    private var parser = ReplyParser()
    private var replies: [FTPReply] = []

    init(store: MemoryFileStore, extraCommands: Set<ExtraCommand> = []) throws {
        self.store = store
        let (client, server) = try PosixProcess.streamPair()
        self.client = client
        let settings = SessionSettings(passivePorts: PortRange(lower: 30000, upper: 30999)!, passiveAddress: "127.0.0.1",
                                       idleTimeout: Self.seconds, dataTimeout: Self.seconds, loginFailureDelay: 0,
                                       loginTimeout: Self.seconds, serverName: "engine", extraCommands: extraCommands)
        var logger = Logger(label: "engine-test")
        logger.logLevel = .critical
        // The control connection is a socket pair, so passive listeners bind on 127.0.0.1 and data connections
        // from there are the client's.
        let session = Session(id: 1, settings: settings, authority: MemoryAuthority(store: store), shutdown: try ShutdownSignal(),
                              input: server, output: server, localHost: "127.0.0.1", peerHost: "127.0.0.1", logger: logger)
        let ended = self.ended
        Thread {
            session.run()
            close(server)
            ended.signal()
        }.start()
    }

    deinit { close(client) }

    /// Sends raw bytes (a whole script, lines and their terminators).
    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let result = try bytes[offset...].withUnsafeBytes { buffer in try PosixSocket.send(client, buffer) }
            guard case .done(let sent) = result, sent > 0 else { throw EngineError.sendFailed }
            offset += sent
        }
    }

    func send(line: String) throws { try send(Array((line + "\r\n").utf8)) }

    /// The next complete reply, waiting at most `seconds`; nil at end of stream.
    func nextReply() throws -> FTPReply? {
        let deadline = Date().addingTimeInterval(Self.seconds)
        while replies.isEmpty {
            let left = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
            guard try PosixPoll.wait(client, events: Int16(POLLIN), milliseconds: left) else { throw EngineError.noReply }
            var buffer = [UInt8](repeating: 0, count: 65536)
            let result: IOResult<Int>
            do {
                result = try buffer.withUnsafeMutableBytes { raw in try PosixSocket.read(client, into: raw) }
            } catch let error as PosixError where error.code == ECONNRESET {
                return nil  // the session closed with part of the script unread (after a 421, say): its replies came first
            }
            guard case .done(let count) = result else { continue }
            if count == 0 { return nil }
            for event in framer.feed(buffer[0..<count]) {
                guard case .line(let line) = event else { throw EngineError.overlongReply }
                if let reply = parser.feed(line: line) { replies.append(reply) }
            }
        }
        return replies.removeFirst()
    }

    /// Every reply until the session closes the connection (after the client's end of stream, or QUIT).
    func remainingReplies() throws -> [FTPReply] {
        var all: [FTPReply] = []
        while let reply = try nextReply() { all.append(reply) }
        return all
    }

    /// Closes the client's sending side, collects the replies still due, and waits for the session to end.
    func finish() throws -> [FTPReply] {
        shutdown(client, Int32(SHUT_WR))
        let rest = try remainingReplies()
        guard ended.wait(timeout: .now() + Self.seconds) == .success else { throw EngineError.sessionDidNotEnd }
        return rest
    }

    /// Runs `script` (written whole, then end of stream) and returns every reply, the greeting first.
    static func replies(to script: [[UInt8]], store: MemoryFileStore,
                        extraCommands: Set<ExtraCommand> = []) throws -> [FTPReply] {
        let connection = try EngineConnection(store: store, extraCommands: extraCommands)
        try connection.send(script.flatMap { $0 + [13, 10] })
        return try connection.finish()
    }
}

enum EngineError: Error {
    case sendFailed, noReply, overlongReply, sessionDidNotEnd
}
