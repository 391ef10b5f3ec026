import Foundation
import Logging
import FTPCore
import TunnelCore

/// Rewrite mode's transfer lines for one control connection: `RETR f 1.0 GiB 4.1 s 262 MB/s`, or
/// `RETR f failed: 550 No such file`. The command and path come from what is sent to the server, the bytes from
/// the data connection's meter, the outcome from the final reply; the line is written once both the final reply
/// and the end of the data connection are known (sshd may deliver the 226 before the last data). Transfers in
/// progress are listed in `TunnelActivity` for `status`. Lives on the control connection's loop thread.
final class TransferReporter {
    private var tracker = TransferTracker()
    private let logger: Logger
    private let level: Logger.Level
    private let activity: TunnelActivity?
    private let connection: () -> Int
    /// The meter of the data endpoint announced last (PASV/EPSV reply or active-mode conversion): the next
    /// transfer uses it.
    private var latestMeter: TransferMeter?
    private var current: LiveTransfer?

    init(logger: Logger, level: Logger.Level = .notice, activity: TunnelActivity?, connection: @escaping () -> Int) {
        self.logger = logger
        self.level = level
        self.activity = activity
        self.connection = connection
    }

    /// A new data endpoint: its data connection counts its bytes here.
    func dataEndpointOpened() -> TransferMeter {
        let meter = TransferMeter()
        latestMeter = meter
        return meter
    }

    func sentToServer(_ units: [ControlConversation.Unit]) { tracker.sentToServer(units) }

    /// How a reply ended a transfer that had started (so a data connection carried it).
    struct Ending {
        let meter: TransferMeter
        let code: Int
        let transfer: TransferTracker.Transfer
    }

    /// Server reply lines in order; returns how they ended a started transfer, if they did.
    @discardableResult
    func fromServer(_ units: [ControlConversation.Unit]) -> Ending? {
        var ending: Ending?
        for event in tracker.fromServer(units) { ending = handle(event) ?? ending }
        return ending
    }

    /// The control connection is finished: a transfer still listed is forgotten.
    func ended() {
        if let current { activity?.remove(current) }
        current = nil
    }

    private func handle(_ event: TransferTracker.Event) -> Ending? {
        switch event {
        case .started(let transfer):
            let live = LiveTransfer(transfer: transfer, connection: connection(), started: Date(), meter: latestMeter)
            latestMeter = nil
            if let current { activity?.remove(current) }
            current = live
            activity?.add(live)
            return nil
        case .finished(let transfer, let code, let text):
            let live = current.flatMap { $0.transfer.verb == transfer.verb && $0.transfer.path == transfer.path ? $0 : nil }
            current = nil
            let reply = (code: code, text: text)
            let logger = self.logger, level = self.level, activity = self.activity, conn = connection()
            guard let live else {
                // Refused before any data (no 1xx reply).
                logger.log(level: level, "\(Self.line(transfer, bytes: nil, seconds: nil, reply: reply))", metadata: ["conn": "\(conn)"])
                return nil
            }
            let write: @Sendable () -> Void = {
                activity?.remove(live)
                let (bytes, endedAt) = live.meter?.snapshot ?? (0, nil)
                // A positive reply whose data did not arrive whole reached the client as 426 (TransferCompletionGate).
                var reply = (200..<300).contains(reply.code) && live.meter?.settled == .broken
                    ? (code: ReplyCode.transferAborted, text: "the data connection ended before all data arrived") : reply
                if live.meter?.isVouched == true {
                    reply = (code: ReplyCode.closingData, text: "all announced bytes arrived; the server's reply was lost with its SSH session")
                }
                let seconds = max((endedAt ?? Date()).timeIntervalSince(live.started), Date().timeIntervalSince(live.started))
                logger.log(level: level, "\(Self.line(transfer, bytes: bytes, seconds: seconds, reply: reply))", metadata: ["conn": "\(conn)"])
            }
            if let meter = live.meter { meter.onEnd(write) } else { write() }
            return live.meter.map { Ending(meter: $0, code: code, transfer: live.transfer) }
        }
    }

    /// `RETR f 1.0 GiB 4.1 s 262 MB/s`; `STOR g failed after 12 MiB, 2.0 s: 451 Local error`.
    static func line(_ transfer: TransferTracker.Transfer, bytes: Int?, seconds: Double?,
                     reply: (code: Int, text: String)) -> String {
        let moved = bytes.flatMap { bytes in seconds.map { (bytes, $0) } }
        if (200..<300).contains(reply.code) {
            guard let (bytes, seconds) = moved else { return "\(transfer.title) done (\(reply.code) \(reply.text))" }
            return TransferLine.completed(transfer.title, bytes: bytes, seconds: seconds)
        }
        return TransferLine.failed(transfer.title, moved: moved.map { (bytes: $0.0, seconds: $0.1) }, reason: "\(reply.code) \(reply.text)")
    }
}
