import Foundation
import Posix
import SSHKeys

/// A small ssh-agent client of our own (libssh2 1.10 cannot ask an agent for SHA-2 RSA signatures): lists the
/// agent's identities and signs, over its unix socket. Every reply is bounded (`AgentMessages.maximumReply`) and
/// every wait has a deadline; any failure closes the connection (a half-read reply never confuses the next one).
final class AgentClient {
    let socketPath: String
    private var fd: Int32 = -1
    /// How long one request may take.
    let replyDeadline: Duration
    /// Long enough for an agent that asks its user to confirm a signature (ssh-add -c, KeePassXC, 1Password).
    static let defaultReplyDeadline: Duration = .seconds(30)

    enum Failure: Error, CustomStringConvertible {
        case unreachable(path: String, reason: String)
        case broken(path: String, reason: String)
        case refused(path: String)

        var description: String {
            switch self {
            case .unreachable(let path, let reason):
                return "cannot reach the ssh-agent at \(path): \(reason); start one (eval \"$(ssh-agent)\") or set IdentityAgent"
            case .broken(let path, let reason):
                return "the ssh-agent at \(path) sent \(reason); restart it"
            case .refused(let path):
                return "the ssh-agent at \(path) refused to sign (key removed, confirmation declined, or no SHA-2 RSA support)"
            }
        }
    }

    init(socketPath: String, replyDeadline: Duration = AgentClient.defaultReplyDeadline) {
        self.socketPath = socketPath
        self.replyDeadline = replyDeadline
    }
    deinit { disconnect() }

    func disconnect() {
        if fd >= 0 { PosixDescriptor.close(fd) }
        fd = -1
    }

    func identities() throws(Failure) -> [AgentMessages.Identity] {
        let reply = try exchange(AgentMessages.identitiesRequest())
        do { return try AgentMessages.parseIdentities(reply) } catch { throw failure(error) }
    }

    /// The agent's signature of `data` with the key `keyBlob`: (algorithm name, raw signature).
    func sign(keyBlob: [UInt8], data: [UInt8], flags: UInt32) throws(Failure) -> (algorithm: String, signature: [UInt8]) {
        let reply = try exchange(AgentMessages.signRequest(keyBlob: keyBlob, data: data, flags: flags))
        do { return try AgentMessages.parseSignature(reply) } catch { throw failure(error) }
    }

    private func failure(_ error: AgentMessages.Failure) -> Failure {
        switch error {
        case .refused: return .refused(path: socketPath)
        case .malformed(let reason):
            disconnect()
            return .broken(path: socketPath, reason: reason)
        }
    }

    private func exchange(_ request: [UInt8]) throws(Failure) -> [UInt8] {
        do {
            if fd < 0 {
                fd = try PosixLocalSocket.connect(path: socketPath)
                PosixSocket.setNonBlocking(fd)
            }
            let deadline = ContinuousClock.now + replyDeadline
            try write(request, deadline: deadline)
            let header = try read(4, deadline: deadline)
            let length: Int
            do { length = try AgentMessages.replyLength(header) } catch { throw failure(error) }
            return try read(length, deadline: deadline)
        } catch let failure as Failure {
            disconnect()
            throw failure
        } catch {
            disconnect()
            throw .unreachable(path: socketPath, reason: "\(error)")
        }
    }

    private func remainingMilliseconds(_ deadline: ContinuousClock.Instant) throws -> Int32 {
        let left = deadline - ContinuousClock.now
        guard left > .zero else { throw Failure.broken(path: socketPath, reason: "no reply within \(replyDeadline)") }
        return Int32(max(1, left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
    }

    private func write(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws {
        var sent = 0
        while sent < bytes.count {
            _ = try PosixPoll.wait(fd, events: Int16(POLLOUT), milliseconds: try remainingMilliseconds(deadline))
            let result = try bytes[sent...].withUnsafeBytes { try PosixSocket.send(fd, $0) }
            if case .done(let count) = result { sent += count }
        }
    }

    private func read(_ count: Int, deadline: ContinuousClock.Instant) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            _ = try PosixPoll.wait(fd, events: Int16(POLLIN), milliseconds: try remainingMilliseconds(deadline))
            let result = try buffer.withUnsafeMutableBytes { try PosixSocket.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
            switch result {
            case .done(0): throw Failure.broken(path: socketPath, reason: "end of stream in the middle of a reply")
            case .done(let n): filled += n
            case .wouldBlock: continue
            }
        }
        return buffer
    }
}
