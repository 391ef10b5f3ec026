import Foundation
import Posix

/// A blocking TCP connection to a numeric address where every operation has a deadline, for `ftptunnel check`.
/// Writes never raise SIGPIPE (MSG_NOSIGNAL).
final class ProbeSocket {
    let fd: Int32
    let host: String
    let port: Int

    /// Bytes read per `recv` call.
    static let readChunk = 64 * 1024

    /// Connects within `timeout` seconds.
    init(host: String, port: Int, timeout: Double) throws {
        self.host = host
        self.port = port
        guard let address = SocketAddress(host: host, port: port) else { throw FTPProbeError.notNumeric(host) }
        let millis = ProbeDeadline(seconds: timeout).remainingMilliseconds
        do {
            fd = try PosixSocket.connect(to: address, milliseconds: millis, nonBlocking: true)
        } catch where error.code == ETIMEDOUT {
            throw FTPProbeError.timedOut("connecting to \(host):\(port)")
        } catch {
            throw FTPProbeError.connectFailed(host: host, port: port, reason: error.reason)
        }
    }

    deinit { PosixDescriptor.close(fd) }

    /// Sends every byte before the deadline.
    func send(_ bytes: [UInt8], timeout: Double) throws {
        let deadline = ProbeDeadline(seconds: timeout)
        var offset = 0
        while offset < bytes.count {
            let result: IOResult<Int>
            do {
                result = try bytes[offset...].withUnsafeBytes { (raw) throws(PosixError) in try PosixSocket.send(fd, raw) }
            } catch let error as PosixError {
                throw FTPProbeError.connectionLost("sending to \(host):\(port): \(error.reason)")
            }
            switch result {
            case .done(let n): offset += n
            case .wouldBlock:
                guard try Self.wait(fd, for: Int16(POLLOUT), until: deadline) else { throw FTPProbeError.timedOut("sending to \(host):\(port)") }
            }
        }
    }

    /// Up to `readChunk` bytes; empty at end of stream. Throws when nothing arrives before the deadline.
    func receive(until deadline: ProbeDeadline, what: @autoclosure () -> String) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: Self.readChunk)
        while true {
            let result: IOResult<Int>
            do {
                result = try buffer.withUnsafeMutableBytes { (raw) throws(PosixError) in try PosixSocket.read(fd, into: raw) }
            } catch let error as PosixError {
                throw FTPProbeError.connectionLost("\(what()): \(error.reason)")
            }
            switch result {
            case .done(let n): return Array(buffer[0..<n])
            case .wouldBlock:
                guard try Self.wait(fd, for: Int16(POLLIN), until: deadline) else { throw FTPProbeError.timedOut(what()) }
            }
        }
    }

    /// Reads until the peer closes, keeping at most `limit` bytes (the rest is counted, not kept).
    func readToEnd(timeout: Double, limit: Int, what: String) throws -> (kept: [UInt8], total: Int) {
        let deadline = ProbeDeadline(seconds: timeout)
        var kept: [UInt8] = []
        var total = 0
        while true {
            let chunk = try receive(until: deadline, what: what)
            if chunk.isEmpty { return (kept, total) }
            total += chunk.count
            if kept.count < limit { kept += chunk.prefix(limit - kept.count) }
        }
    }

    /// Polls for `events`; false when the deadline passed first.
    private static func wait(_ fd: Int32, for events: Int16, until deadline: ProbeDeadline) throws -> Bool {
        let remaining = deadline.remainingMilliseconds
        if remaining <= 0 { return false }
        do {
            return try PosixPoll.wait(fd, events: events, milliseconds: remaining)
        } catch {
            throw FTPProbeError.connectionLost(error.description)
        }
    }
}

/// A point in time on the monotonic clock.
struct ProbeDeadline {
    let end: UInt64

    init(seconds: Double) {
        end = DispatchTime.now().uptimeNanoseconds + UInt64(max(0, seconds) * 1_000_000_000)
    }

    var remainingMilliseconds: Int32 {
        let now = DispatchTime.now().uptimeNanoseconds
        guard end > now else { return 0 }
        return Int32(clamping: (end - now + 999_999) / 1_000_000)
    }
}
