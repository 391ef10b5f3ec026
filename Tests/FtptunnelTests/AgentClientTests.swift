import Foundation
import Posix
import Testing
import TestSupport
@testable import ftptunnel

/// ftptunnel's own ssh-agent client against the real ssh-agent and against agents that hang, lie about lengths
/// or hang up mid-reply: every failure is an error naming the socket, within the deadline.
@Suite(.serialized) struct AgentClientTests {
    /// A unix socket whose accepted connections get `reply` (nil: nothing, kept open) after the request arrives.
    private final class FakeAgent: @unchecked Sendable {
        let path: String
        private let directory: TempDirectory
        private let listener: Int32
        private let lock = NSLock()
        private var connections: [Int32] = []

        init(reply: [UInt8]?, closeAfterReply: Bool = false) throws {
            directory = try TempDirectory("fake-agent")
            path = directory.file("agent.sock")
            listener = try PosixLocalSocket.listen(path: path, mode: 0o600)
            let fd = listener
            Thread.detachNewThread { [self] in
                guard (try? PosixPoll.wait(fd, events: Int16(POLLIN), milliseconds: 10_000)) == true,
                      case .done(let accepted)? = try? PosixSocket.accept(fd, nonBlocking: false) else { return }
                self.lock.withLock { self.connections.append(accepted.fd) }
                var request = [UInt8](repeating: 0, count: 64)
                _ = request.withUnsafeMutableBytes { try? PosixSocket.read(accepted.fd, into: $0) }
                guard let reply else { return }
                _ = reply.withUnsafeBytes { try? PosixSocket.send(accepted.fd, $0) }
                if closeAfterReply { _ = self.lock.withLock { self.connections.removeLast() }; close(accepted.fd) }
            }
        }

        deinit {
            close(listener)
            lock.withLock { connections.forEach { close($0) } }
        }
    }

    @Test func anAgentThatNeverAnswersCostsTheDeadlineOnly() throws {
        let agent = try FakeAgent(reply: nil)
        let client = AgentClient(socketPath: agent.path, replyDeadline: .milliseconds(500))
        let start = ContinuousClock.now
        #expect(throws: AgentClient.Failure.self) { try client.identities() }
        let elapsed = ContinuousClock.now - start
        #expect(elapsed >= .milliseconds(450) && elapsed < .seconds(5), "\(elapsed)")
        do { _ = try client.identities() } catch { #expect("\(error)".contains(agent.path), "\(error)") }
    }

    @Test func aHugeLengthIsRefusedWithoutReadingIt() throws {
        let agent = try FakeAgent(reply: [0xff, 0xff, 0xff, 0xff, 12])
        let client = AgentClient(socketPath: agent.path, replyDeadline: .seconds(5))
        do {
            _ = try client.identities()
            Issue.record("a 4 GiB reply was accepted")
        } catch {
            #expect("\(error)".contains("the ssh-agent at \(agent.path) sent a reply of 4294967295 bytes"), "\(error)")
        }
    }

    @Test func anAgentHangingUpMidReplyIsAnError() throws {
        let agent = try FakeAgent(reply: [0, 0, 0, 40, 12, 0, 0], closeAfterReply: true)
        let client = AgentClient(socketPath: agent.path, replyDeadline: .seconds(5))
        do {
            _ = try client.identities()
            Issue.record("a cut reply was accepted")
        } catch {
            #expect("\(error)".contains("end of stream in the middle of a reply"), "\(error)")
        }
    }

    @Test func noAgentAtThePathIsNamed() throws {
        let directory = try TempDirectory("no-agent")
        let client = AgentClient(socketPath: directory.file("missing.sock"))
        do {
            _ = try client.identities()
            Issue.record("a missing socket answered")
        } catch {
            #expect("\(error)".hasPrefix("cannot reach the ssh-agent at \(directory.file("missing.sock"))"), "\(error)")
        }
    }

    @Test func realAgentListsAndSignsRSAWithSHA512() throws {
        let directory = try TempDirectory("agent-keys")
        let key = directory.file("id_rsa")
        try runChecked("ssh-keygen", ["-q", "-t", "rsa", "-b", "2048", "-N", "", "-C", "rsa in agent", "-f", key])
        let agent = try TunnelAgent()
        try agent.add(key)
        let client = AgentClient(socketPath: agent.socket)
        let identities = try client.identities()
        #expect(identities.map(\.comment) == ["rsa in agent"])
        let blob = try #require(identities.first?.blob)
        let signed = try client.sign(keyBlob: blob, data: Array("data".utf8), flags: 4)
        #expect(signed.algorithm == "rsa-sha2-512")
        #expect(signed.signature.count == 256)
        let sha256 = try client.sign(keyBlob: blob, data: Array("data".utf8), flags: 2)
        #expect(sha256.algorithm == "rsa-sha2-256")
        #expect(sha256.signature != signed.signature)
    }
}
