import Foundation
import FTPCore
import TunnelCore

/// Rewrite mode (issue 17): a server's positive final reply to a transfer (226/250 after RETR, STOR, LIST, …) reaches
/// the client only once that transfer's data connection has delivered everything. sshd may deliver the 226 before the
/// last data, and the data may then be lost with its SSH session: a client told 226 would keep a truncated file.
///
/// Server replies (after the session keeper) pass through whole at a time. `inspect` sees every reply in order
/// (the transfer tracker) and names the data meter of a transfer the reply completes positively. Such a reply:
/// - passes when the data arrived whole (`TransferMeter.Outcome.whole`);
/// - becomes `426` when it did not (session lost, channel failed, local error);
/// - is held, with everything after it, until the data connection settles; the control connection reads no more
///   from the server meanwhile. The hold ends after `stallLimit` without a byte moving on the data connection
///   (then `426`): a stuck data connection cannot hold its control connection forever.
///
/// The converse, when the control connection's SSH session is lost while the transfer's data connection lives on
/// another session of a pool: the session keeper answers the transfer `426` at once. What a data channel's clean end
/// proves without the server's reply: for a download, that the server closed its data connection normally after
/// sending — not that it sent the whole file (a server that fails reading the file also just closes, then replies
/// 451). Only together with the size the server announced (150 "(N bytes)", or SIZE) does it prove the file whole:
/// then that 426 is held and becomes `226` when exactly that many bytes arrived whole. For an upload the server's
/// reply alone says whether it stored the file (disk full, rename), so the 426 stays.
///
/// A multi-line reply is collected whole (up to `maximumReplyBytes`, beyond which it passes line by line), so a
/// replacement never leaves the client inside a reply. Reply lines arrive framed and classified by the connection's
/// `ControlConversation`. Lives on the control connection's loop thread.
final class TransferCompletionGate {
    typealias Unit = ControlConversation.Unit

    /// Long enough that a client pausing its reads is never told 426 for a transfer that completes (vsftpd's own
    /// data_connection_timeout is 300 s); the hold costs only the held reply.
    static let stallLimit: TimeInterval = 300
    static let maximumReplyBytes = 64 << 10

    /// The reply that replaces a positive one whose data did not arrive whole.
    static let abortedReply = Unit.reply(Array("\(ReplyCode.transferAborted) Connection closed; transfer aborted: the tunnel's data connection ended before all data arrived (SSH session lost or channel failed); retry, or resume with REST.".utf8))
    static let stalledReply = Unit.reply(Array("\(ReplyCode.transferAborted) Transfer aborted: the server reported it complete, but its data connection moved no byte for \(Int(stallLimit)) s afterwards.".utf8))

    /// Called with each reply (or pass-through piece) in order; tells how a reply ended a started transfer.
    private let inspect: ([Unit]) -> TransferReporter.Ending?
    /// Wakes the loop (from any thread) when a held reply's data connection settles.
    private let wake: @Sendable () -> Void

    /// The multi-line reply being collected (nil: none, or passing through because it grew too large).
    private var collecting: [Unit]?
    private var collectingBytes = 0
    private var passingThrough = false
    /// Lines not yet processed: left when a reply was held mid-batch, or arrived while it was held (at most one
    /// read's worth: the loop does not read the server while `isHolding`).
    private var waiting: [Unit] = []

    private struct Held {
        let reply: [Unit]
        let meter: TransferMeter
        /// A session keeper's 426 that becomes 226 when exactly this many bytes arrive whole (nil: a server's
        /// positive reply).
        let vouchFor: Int?
        var bytesSeen: Int
        var deadline: Date
    }
    private var held: Held?

    init(wake: @escaping @Sendable () -> Void, inspect: @escaping ([Unit]) -> TransferReporter.Ending?) {
        self.wake = wake
        self.inspect = inspect
    }

    /// A reply is held: read nothing more from the server, and neither end the client's stream.
    var isHolding: Bool { held != nil }

    /// When the hold must be looked at again at the latest.
    var dueDate: Date? { held?.deadline }

    /// Server reply lines in; what may go on toward the client now. `sessionLost`: the session keeper's answers for
    /// the commands that were in flight when the control connection's SSH session was lost.
    func feed(_ units: [Unit], sessionLost: Bool = false, now: Date = Date()) -> [Unit] {
        waiting += units
        guard held == nil else { return [] }
        keeperAnswers = sessionLost
        defer { keeperAnswers = false }
        return drain(now: now)
    }

    /// The replies being drained are the keeper's own (set only while `feed(_:sessionLost: true)` runs).
    private var keeperAnswers = false

    /// The server's stream ended (or the control connection closes): an unfinished reply goes on as it is (its
    /// unfinished last line is the conversation's, handed to the filter with the end).
    func flush() -> [Unit] {
        guard held == nil else { return [] }
        let out = collecting ?? []
        collecting = nil
        collectingBytes = 0
        if !out.isEmpty { _ = inspect(out) }
        return out
    }

    /// Releases a held reply once its data connection settled, or when the hold is over its deadline.
    func tick(now: Date) -> [Unit]? {
        guard var hold = held else { return nil }
        var out: [Unit]
        switch hold.meter.settled {
        case .whole?:
            out = hold.vouchFor.map { Self.vouched(hold.reply, expected: $0, meter: hold.meter) } ?? hold.reply
        case .broken?:
            out = hold.vouchFor == nil ? [Self.abortedReply] : hold.reply
        case nil:
            let moved = hold.meter.snapshot.bytes
            if moved != hold.bytesSeen {
                hold.bytesSeen = moved
                hold.deadline = now.addingTimeInterval(Self.stallLimit)
                held = hold
            }
            guard now >= hold.deadline else { return nil }
            out = hold.vouchFor == nil ? [Self.stalledReply] : hold.reply
        }
        held = nil
        out += drain(now: now)
        return out
    }

    private func drain(now: Date) -> [Unit] {
        var out: [Unit] = []
        while held == nil, !waiting.isEmpty {
            let unit = waiting.removeFirst()
            if unit.piece == .line, let role = unit.role {
                line(unit, role: role, now: now, &out)
            } else {
                // Pieces of an over-long line: never a reply the tracker pairs with a transfer's end; they pass.
                pass([unit], &out)
            }
        }
        return out
    }

    private func line(_ unit: Unit, role: ReplyParser.LineRole, now: Date, _ out: inout [Unit]) {
        switch role {
        case .single:
            decide([unit], now: now, &out)
        case .first:
            collecting = [unit]
            collectingBytes = unit.raw.count
            passingThrough = false
        case .continuation:
            append(unit, &out)
        case .last:
            if passingThrough {
                passingThrough = false
                pass([unit], &out)
            } else {
                let reply = (collecting ?? []) + [unit]
                collecting = nil
                collectingBytes = 0
                decide(reply, now: now, &out)
            }
        case .stray:
            pass([unit], &out)
        }
    }

    private func append(_ unit: Unit, _ out: inout [Unit]) {
        guard !passingThrough, var reply = collecting else { return pass([unit], &out) }
        reply.append(unit)
        collectingBytes += unit.raw.count
        if collectingBytes > Self.maximumReplyBytes {
            collecting = nil
            collectingBytes = 0
            passingThrough = true
            pass(reply, &out)
        } else {
            collecting = reply
        }
    }

    private func pass(_ units: [Unit], _ out: inout [Unit]) {
        _ = inspect(units)
        out += units
    }

    private func decide(_ reply: [Unit], now: Date, _ out: inout [Unit]) {
        guard let ending = inspect(reply) else { return out += reply }
        let meter = ending.meter
        if (200..<300).contains(ending.code) {
            switch meter.settled {
            case .whole?: out += reply
            case .broken?: out.append(Self.abortedReply)
            case nil: hold(reply, meter: meter, vouchFor: nil, now: now)
            }
            return
        }
        guard keeperAnswers, ending.code == ReplyCode.transferAborted, ending.transfer.isDownload,
              let expected = ending.transfer.expectedBytes else { return out += reply }
        switch meter.settled {
        case .whole?: out += Self.vouched(reply, expected: expected, meter: meter)
        case .broken?: out += reply
        case nil: hold(reply, meter: meter, vouchFor: expected, now: now)
        }
    }

    private func hold(_ reply: [Unit], meter: TransferMeter, vouchFor: Int?, now: Date) {
        held = Held(reply: reply, meter: meter, vouchFor: vouchFor, bytesSeen: meter.snapshot.bytes,
                    deadline: now.addingTimeInterval(Self.stallLimit))
        meter.onSettled(wake)
    }

    /// The keeper's 426 for a download whose data arrived whole: 226 when exactly the announced bytes came.
    static func vouched(_ keeperReply: [Unit], expected: Int, meter: TransferMeter) -> [Unit] {
        guard meter.snapshot.bytes == expected else { return keeperReply }
        meter.markVouched()
        return [Unit.reply(Array("\(ReplyCode.closingData) Transfer complete: all \(expected) bytes the server announced arrived on a data connection that ended cleanly (the control connection's SSH session was lost before the server's own reply).".utf8))]
    }
}
