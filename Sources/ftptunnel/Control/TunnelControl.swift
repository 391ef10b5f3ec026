import Foundation
import Posix
import Logging
import FTPCore
import TunnelCore

/// What a running tunnel's control socket answers: `status` (the report below) and `stop` (closes the tunnel
/// cleanly, as `ssh -O exit` does).
final class TunnelControl: @unchecked Sendable {
    let name: String
    let settings: TunnelSettings
    let activity: TunnelActivity
    private let started = Date()
    private let lock = NSLock()
    private var ready: TunnelReady?
    private var readyAt: Date?
    private let stop: @Sendable () -> Void

    init(name: String, settings: TunnelSettings, activity: TunnelActivity, stop: @escaping @Sendable () -> Void) {
        self.name = name
        self.settings = settings
        self.activity = activity
        self.stop = stop
    }

    func markReady(_ ready: TunnelReady) {
        lock.withLock {
            self.ready = ready
            readyAt = Date()
        }
    }

    /// The control socket's request handler.
    func answer(_ request: String) -> String {
        switch request.lowercased() {
        case "status": return report(now: Date())
        case "stop":
            stop()
            return "stopping\n"
        default: return "error: unknown request '\(request.prefix(40))' (status or stop)\n"
        }
    }

    func report(now: Date) -> String {
        let (ready, readyAt) = lock.withLock { (self.ready, self.readyAt) }
        let snapshot = activity.snapshot
        var lines: [String] = []
        let via = "\(settings.user)@\(settings.sshHost):\(settings.sshPort)"
        guard let ready, let readyAt else {
            lines.append("\(name) (pid \(PosixProcess.currentID)): connecting to \(via) for \(ByteCount.duration(now.timeIntervalSince(started)))")
            return lines.joined(separator: "\n") + "\n"
        }
        lines.append("\(name) (pid \(PosixProcess.currentID)): ready — \(ready.url), mode \(settings.mode.rawValue), up \(ByteCount.duration(now.timeIntervalSince(readyAt)))")
        if settings.mode == .sftp {
            lines.append("SSH: \(via), one SSH session per FTP session (SFTP bridge)")
            lines.append("FTP sessions: \(snapshot.controlConnections)")
        } else {
            lines += sessionLines(snapshot, via: via)
            guard settings.mode == .rewrite else {
                lines.append("transfers: not followed in mode fixed (the control connection passes untouched, maybe encrypted)")
                return lines.joined(separator: "\n") + "\n"
            }
        }
        if snapshot.transfers.isEmpty {
            lines.append("transfers in progress: none")
        } else {
            lines.append("transfers in progress:")
            for transfer in snapshot.transfers { lines.append("  " + Self.progress(transfer, now: now, connectionName: settings.mode == .sftp ? "FTP session" : "connection")) }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The SSH sessions and client connections of the forwarding modes.
    private func sessionLines(_ snapshot: TunnelActivity.Snapshot, via: String) -> [String] {
        var lines: [String] = []
        if snapshot.sessions.isEmpty {
            lines.append("SSH session: \(via)")
        }
        for session in snapshot.sessions {
            lines.append("SSH session \(session.number): \(via) \(session.state)")
        }
        lines.append("client connections: \(snapshot.controlConnections) control, \(snapshot.dataConnections) data")
        return lines
    }

    /// `RETR big.bin  12.0 MiB of 100 MiB (12%)  3.2 MB/s  ETA 27 s  (connection 1)`.
    static func progress(_ live: LiveTransfer, now: Date, connectionName: String = "connection") -> String {
        let bytes = live.meter?.snapshot.bytes ?? 0
        let seconds = max(now.timeIntervalSince(live.started), 0.001)
        var text = "\(live.transfer.title)  \(ByteCount.format(bytes))"
        if let expected = live.transfer.expectedBytes, expected > 0 {
            let percent = min(100, Int(Double(bytes) * 100 / Double(expected)))
            text += " of \(ByteCount.format(expected)) (\(percent)%)"
            let rate = Double(bytes) / seconds
            text += "  \(ByteCount.rate(bytes: bytes, seconds: seconds))"
            if rate > 0, expected > bytes { text += "  ETA \(ByteCount.duration(Double(expected - bytes) / rate))" }
        } else {
            text += "  \(ByteCount.rate(bytes: bytes, seconds: seconds))"
        }
        return text + "  (\(connectionName) \(live.connection), \(ByteCount.duration(seconds)))"
    }
}
