import Foundation
import Posix

/// `status` and `stop`'s side of the control socket: one request line, the answer read to the end, with a
/// deadline for both.
enum ControlClient {
    static let deadline: TimeInterval = 5

    /// Sends `request` to the tunnel at `location`; throws `notRunning` when nobody answers there.
    static func ask(_ location: ControlSocketPath, _ request: String) throws -> String {
        let path = location.path
        // A directory someone else controls could hold anyone's socket: never talk to it.
        do { try location.checkDirectory() } catch ControlSocketError.directory(_, let problem) where problem == ControlSocketPath.missing {
            throw ControlSocketError.notRunning(name: location.name, path: path)
        }
        let fd: Int32
        do { fd = try PosixLocalSocket.connect(path: path) } catch {
            switch error.code {
            case ENOENT, ECONNREFUSED: throw ControlSocketError.notRunning(name: location.name, path: path)
            case EACCES, EPERM: throw ControlSocketError.unusable(path, "permission denied (only the user who started the tunnel may ask it)")
            default: throw ControlSocketError.unusable(path, error.reason)
            }
        }
        defer { PosixDescriptor.close(fd) }
        PosixSocket.setSendTimeout(fd, seconds: deadline)
        // send(2) with MSG_NOSIGNAL: a tunnel that closes early must not kill `status` with SIGPIPE. The request is
        // tiny and the socket blocking (SO_SNDTIMEO bounds it): one call sends it or fails.
        let line = Array((request + "\n").utf8)
        do {
            let result = try line.withUnsafeBytes { raw in try PosixSocket.send(fd, raw) }
            guard case .done(line.count) = result else { throw ControlSocketError.unusable(path, "the request could not be sent") }
        } catch let error as PosixError {
            throw ControlSocketError.unusable(path, error.reason)
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        let end = Date().addingTimeInterval(deadline)
        while answer.count <= ControlServer.maximumAnswer {
            let left = Int32(max(0, end.timeIntervalSinceNow) * 1000)
            guard left > 0, (try? PosixPoll.wait(fd, events: Int16(POLLIN), milliseconds: left)) == true else {
                throw ControlSocketError.unusable(path, "the tunnel did not answer within \(Int(deadline)) s")
            }
            let result = buffer.withUnsafeMutableBytes { raw in try? PosixSocket.read(fd, into: raw) }
            guard case .done(let n)? = result else {
                if case .wouldBlock? = result { continue }
                break
            }
            if n == 0 { break }
            answer += buffer[0..<n]
        }
        let text = String(decoding: answer, as: UTF8.self)
        if text.hasPrefix("error: ") {
            throw ControlSocketError.refused(String(text.dropFirst("error: ".count)).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return text
    }
}
