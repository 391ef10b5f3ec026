import FTPServerKit
import Foundation
import Logging
import Posix

/// Extra SFTP channels of an FTP session's SSH session, kept between uploads (they die with the session).
protocol SFTPChannelSpares: AnyObject {
    /// A raw SFTP channel (INIT done, no handle open) on `session`, if one is kept.
    func takeSpare(on session: SSHSession) -> SFTPRawChannel?
    /// Keeps a raw SFTP channel (INIT done, no handle open, nothing in flight) for the next upload.
    func keepSpare(_ channel: SFTPRawChannel)
    /// Cuts `path` to `size` bytes on the next SSH session, before anything else (a striped upload that failed
    /// with the session may have left ranges after a hole).
    func cutWhenConnected(_ path: [UInt8], to size: UInt64)
    /// Set once a kept channel's server did not offer posix-rename@openssh.com (`renameReplacing`).
    var lacksPosixRename: Bool { get set }
    var logger: Logger { get }
}

extension SFTPChannelSpares {
    /// A raw SFTP channel of `session` for one job: a kept one, or with `starting` a new one (three round trips).
    /// Nil when none is kept and none is to be started, or when the server refuses another channel (sshd's
    /// MaxSessions; logged as "no SFTP channel for `purpose` (…); `fallback`"). Throws when the connection broke.
    func rawChannel(on session: SSHSession, starting: Bool, for purpose: String, fallback: String) throws -> SFTPRawChannel? {
        if let kept = takeSpare(on: session) { return kept }
        guard starting else { return nil }
        do {
            return try SFTPRawChannel.start(on: session)
        } catch let failure as SFTPFailure where !failure.isConnectionLost {
            logger.info("no SFTP channel for \(purpose) (\(failure)); \(fallback)")
            return nil
        }
    }

    /// Keeps a raw channel a job is done with for the next one when it is in step (nothing in flight, nothing
    /// unread), and shuts it down otherwise (at once when its session is lost).
    func giveBack(_ raw: SFTPRawChannel) {
        if !raw.isDesynchronized, raw.reader.pending == 0 { return keepSpare(raw) }
        raw.isDesynchronized = true
        if raw.session.gate.lost != nil { raw.callTimeout = SFTPSession.lostTimeout }
        raw.shutDown()
    }
}

/// Writes one upload through several SFTP channels of one SSH session at once (sshd grants each channel its own
/// 2 MiB window, so one channel uploads at most 2 MiB per round trip). The client's bytes are cut into segments
/// of `segmentSize`; each segment goes to the stripe with the least unacknowledged bytes that can take one, so
/// stripes carry disjoint ranges. It starts with the upload's own channel and handle (`SFTPStripe`, one segment at
/// a time) and adds raw SFTP channels (`SFTPRawStripe`: segments at any offset with earlier ones in flight) while
/// the stripes are window-limited, up to `maximum` of them: once per round trip it decides how many (the stripes
/// writing double), and the channels open one after another (libssh2 opens one channel at a time per session) while
/// their subsystem and SFTP starts overlap. Window-limited: they acknowledged at least a third of what their windows
/// allow per round trip (a client, CPU or network that is the limit keeps them far below). Once `maximum` raw
/// streams write, the upload's own handle takes no new segment (it moves about half of what a raw stream does per
/// round trip, and its last segment would hold up the end); while the server refuses more channels it goes on.
///
/// The end (`finish`) costs one round trip after the last acknowledgement: one raw stream sends fsync@openssh.com
/// ahead of its CLOSE while the others close, and the upload's own handle closes meanwhile.
///
/// Non-blocking on the session socket, under the one-partial-packet rule: after a stripe's call blocked with a
/// packet half sent, that stripe's same call comes next and nothing else sends. Memory: at most `capacity`
/// unacknowledged bytes per stripe (one segment for the upload's own handle, and as much again copied into
/// libssh2's requests; two for a raw stripe, plus its 128 KiB of framed requests).
final class SFTPStripedWriter {
    /// Bytes one stripe takes at a time: 64 of libssh2's 30000-byte write requests, which with their headers fit
    /// sshd's 2 MiB window with room for the three packets sshd may not have granted again yet, so a segment goes
    /// out at once and is acknowledged in one round trip. (A whole 2 MiB segment overflows the window by one
    /// request, which then waits a second round trip: measured, half the rate per stripe.)
    static let segmentSize = 64 * 30000
    /// Seconds without any progress after which the upload fails (the server or the connection is stuck).
    static let stallSeconds = SFTPBridge.sshTimeout
    /// The window OpenSSH's sshd grants every channel (`CHAN_SES_WINDOW_DEFAULT`); libssh2 does not report the
    /// server's initial window of a channel it opened.
    static let serverWindow = 2 << 20

    let session: SSHSession
    let path: [UInt8]
    let maximum: Int
    private let primary: SFTPStripe
    private(set) var stripes: [SFTPUploadStripe]
    private(set) weak var spares: SFTPChannelSpares?
    /// File offset of the next byte the client sends.
    private var nextOffset: Int64
    /// Segments handed out and not yet known to be acknowledged whole, in file order.
    private var segments: [(start: Int64, end: Int64, stripe: SFTPUploadStripe)] = []
    /// Every byte below this offset is acknowledged.
    private var prefixEnd: Int64
    private let firstOffset: Int64
    private var current: SFTPUploadStripe?
    /// The stripe whose packet is half sent: only its same call may come next.
    private var holder: SFTPUploadStripe?
    /// The generation at which `advance` last skipped its wait for data already queued.
    private var passWithoutWaitAt: Int?
    private var finishing = false
    private var roundTrip: Double?
    private var intervalStart = Monotonic.now()
    private var intervalAcknowledged = 0
    private var lastProgress = Monotonic.now()
    private var done = false
    /// The server refused a new channel: no more growth for this upload.
    private var growthRefused = false
    /// Stripes this upload grows to (decided once per round trip); new channels open one after another.
    private var wanted = 1
    /// Stripes the server refused, retired once the session is back in blocking mode.
    private var refused: [SFTPUploadStripe] = []
    /// The most streams this upload wrote through at once (at most `maximum`).
    private(set) var peakStripes = 1
    /// The raw stripe whose CLOSE follows an fsync@openssh.com (chosen when the upload ends).
    private var syncStripe: SFTPRawStripe?
    /// The upload's own handle closes in `finish` too.
    private var closesPrimary = false
    private let startedAt = Monotonic.now()

    init(channel: SFTPSession, handle: SFTPHandle, path: [UInt8], offset: Int64, maximum: Int, spares: SFTPChannelSpares?) {
        session = channel.session
        self.path = path
        self.maximum = max(1, maximum)
        self.spares = spares
        primary = SFTPStripe(primary: channel, handle: handle, path: path)
        stripes = [primary]
        nextOffset = offset
        firstOffset = offset
        prefixEnd = offset
    }

    deinit { if !done { abandon() } }

    /// Bytes from the upload's first offset that are all acknowledged (the rest may have holes).
    var acknowledgedPrefix: Int64 { settledPrefix() - firstOffset }
    /// True when bytes after `acknowledgedPrefix` may have reached the file.
    var wroteBeyondPrefix: Bool {
        _ = settledPrefix()
        return segments.count > 1
    }

    // MARK: Data

    /// Hands the bytes to stripes, waiting (on the session socket) only while every stripe is busy.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var rest = bytes
        while rest.count > 0 {
            let stripe = try stripeWithRoom()
            let count = min(rest.count, stripe.capacity - stripe.unacknowledged)
            stripe.append(UnsafeRawBufferPointer(rebasing: rest[..<count]))
            nextOffset += Int64(count)
            segments[segments.count - 1].end = nextOffset
            rest = UnsafeRawBufferPointer(rebasing: rest[count...])
        }
        _ = try pass()
    }

    /// Waits until every byte is acknowledged and the extra stripes' handles are closed (their errors reported).
    /// Returns true when the file was synced: one raw stream whose server offers fsync@openssh.com sends it ahead
    /// of its CLOSE once every stripe's bytes are acknowledged (fsync(2) flushes the file whichever process wrote
    /// it); then with `closingOwnHandle` the upload's own handle closes in the same round trip. Otherwise the
    /// upload's own handle stays open (the caller syncs and closes it).
    func finish(closingOwnHandle: Bool) throws -> Bool {
        finishing = true
        syncStripe = stripes.lazy.compactMap { $0 as? SFTPRawStripe }.first { $0.canSync }
        syncStripe?.syncsBeforeClose = true
        closesPrimary = closingOwnHandle && syncStripe != nil
        while holder != nil || stripes.contains(where: {
            $0.unacknowledged > 0 || (($0 !== primary || closesPrimary) && $0.state != .closed)
        }) {
            try advance()
        }
        done = true
        for stripe in stripes + refused where stripe !== primary { retire(stripe, lost: false) }
        if stripes.count > 1 {
            let seconds = Monotonic.now() - startedAt
            spares?.logger.info("upload of \(String(decoding: path, as: UTF8.self)): \(nextOffset - firstOffset) bytes over \(peakStripes) SFTP streams in \(String(format: "%.2f", seconds)) s (round trip \(String(format: "%.0f", (roundTrip ?? 0) * 1000)) ms)")
        }
        return syncStripe?.synced == true
    }

    /// After a failure (or a client that went away): completes a half-sent packet if the connection still works,
    /// shuts down every channel with requests in flight (libssh2 cannot take them back) and keeps the clean ones. The upload's own channel is marked out of step when it had
    /// bytes in flight (`SFTPUpload.discard` then opens a fresh one).
    func abandon(failed: SFTPUploadStripe? = nil, connectionLost: Bool = false) {
        guard !done else { return }
        done = true
        var lost = connectionLost
        if let holder, holder !== failed, !lost {
            let deadline = Monotonic.now() + SFTPSession.lostTimeout
            while true {
                guard let outcome = try? holder.step(closing: false), Monotonic.now() < deadline else { lost = true; break }
                guard case .blocked(outbound: true) = outcome else { break }
                guard session.gate.waitForProgress("libssh2_sftp_write", since: session.gate.generation, until: deadline) else {
                    lost = true
                    break
                }
            }
        }
        self.holder = nil
        if lost {
            primary.sftp?.markConnectionLost()
            session.gate.markLost("an upload through several SFTP streams stopped getting answers")
        }
        for stripe in stripes {
            let clean = !lost && stripe !== failed && stripe.unacknowledged == 0 && [.open, .closed].contains(stripe.state)
            if stripe === primary {
                if !clean { primary.sftp?.markDesynchronized() }
                continue
            }
            if !clean { stripe.abandon() }
        }
        for stripe in stripes + refused where stripe !== primary { retire(stripe, lost: lost) }
    }

    /// Keeps an extra stripe's channel for the next upload when it is clean (initialized, closed, nothing in flight),
    /// and shuts it down otherwise (the server then closes the file it held open).
    private func retire(_ stripe: SFTPUploadStripe, lost: Bool) {
        guard let raw = (stripe as? SFTPRawStripe)?.raw else { return }
        if !lost, !raw.isDesynchronized, raw.isInitialized, stripe.state == .closed, stripe.unacknowledged == 0,
           raw.reader.pending == 0 {
            spares?.keepSpare(raw)
            return
        }
        raw.isDesynchronized = true
        if !lost { raw.shutDown() }
    }

    // MARK: The loop

    /// The stripe taking the client's next bytes: the current one until its segment is full, then an idle one
    /// (given a new segment); while none is idle, the current one goes on past its segment's end (contiguous, no
    /// seek) as long as it has fewer than `segmentSize` bytes unacknowledged. Waits when none has room.
    private func stripeWithRoom() throws -> SFTPUploadStripe {
        while true {
            let retired = primaryRetired
            func usable(_ stripe: SFTPUploadStripe) -> Bool { stripe !== primary || !retired }
            if let current, usable(current), current.state == .open, current.segmentBytes < SFTPStripedWriter.segmentSize,
               current.unacknowledged < current.capacity { return current }
            let ready = stripes.filter { $0.canTakeSegment && $0 !== current && usable($0) }
            if let next = ready.min(by: { $0.unacknowledged < $1.unacknowledged })
                ?? current.flatMap({ $0.canTakeSegment && usable($0) ? $0 : nil }) {
                next.beginSegment(at: nextOffset)
                segments.append((nextOffset, nextOffset, next))
                current = next
                return next
            }
            if let current, usable(current), current.state == .open, current.unacknowledged < current.capacity { return current }
            if takeAllSpares() { continue }
            try advance()
        }
    }

    /// `maximum` raw streams are there and one of them writes: the upload's own handle takes no new segment.
    private var primaryRetired: Bool {
        stripes.count > maximum && stripes.contains { $0 !== primary && $0.state == .open }
    }

    /// Records the streams writing now (at most `maximum`: the upload's own handle steps aside for the last one).
    private func notePeak() { peakStripes = max(peakStripes, min(stripes.count, maximum)) }

    /// Kept channels exist because an earlier upload of this session was window-limited: once this one has a full
    /// segment waiting for room (more than a round trip's window of the upload's own channel), they all join at
    /// once instead of doubling per round trip. A small upload never reaches this and opens no file on them.
    private func takeAllSpares() -> Bool {
        var added = 0
        while stripes.count <= maximum, let spare = spares?.takeSpare(on: session) {
            stripes.append(SFTPRawStripe(channel: spare, path: path))
            added += 1
        }
        guard added > 0 else { return false }
        wanted = max(wanted, stripes.count)
        notePeak()
        spares?.logger.info("upload of \(String(decoding: path, as: UTF8.self)): \(added) kept SFTP streams joined, \(stripes.count) in all")
        return true
    }

    /// One pass; when nothing moved, waits for progress on the session (`SessionGate.waitForProgress`: room for a
    /// half-sent packet, or anything read by any channel), at most a second at a time.
    private func advance() throws {
        let since = session.gate.generation
        let moved = try pass()
        considerGrowing()
        if moved { return }
        // Replies libssh2 queued during an earlier pass and a stripe left unread do not move the generation: one
        // more pass reads them (once per generation, so data no stripe reads cannot make this spin).
        if holder == nil, passWithoutWaitAt != since,
           case .done(true)? = try? session.gate.attempt("libssh2_channel_window_read_ex", until: Monotonic.now() + 1, {
               .done(stripes.contains { $0.hasQueuedData })
           }) {
            passWithoutWaitAt = since
            return
        }
        _ = session.gate.waitForProgress("libssh2_sftp_write", since: since, until: Monotonic.now() + 1)
        if Monotonic.now() - lastProgress > SFTPStripedWriter.stallSeconds {
            let failure = SFTPFailure.stalled("libssh2_sftp_write", path: path, seconds: SFTPStripedWriter.stallSeconds)
            abandon(connectionLost: true)
            throw failure
        }
    }

    /// Gives every stripe one step (the holder of a half-sent packet first, alone until it completes).
    private func pass() throws -> Bool {
        var moved = false
        if let holder {
            let outcome = try step(holder)
            if case .blocked(outbound: true) = outcome { return false }
            self.holder = nil
            if case .progress(let acknowledged) = outcome {
                moved = true
                intervalAcknowledged += acknowledged
            }
        }
        for stripe in stripes {
            let outcome = try step(stripe)
            switch outcome {
            case .progress(let acknowledged):
                moved = true
                intervalAcknowledged += acknowledged
            case .blocked(outbound: true):
                holder = stripe
                if moved { lastProgress = Monotonic.now() }
                return moved
            case .blocked, .idle:
                break
            }
        }
        if moved { lastProgress = Monotonic.now() }
        return moved
    }

    /// One stripe's step; a failure abandons the whole upload (see `abandon`) and is rethrown, except a new channel
    /// the server refuses (sshd's MaxSessions, default 10 per connection): the upload goes on with the stripes it
    /// has, and grows no more.
    private func step(_ stripe: SFTPUploadStripe) throws -> SFTPStripe.Outcome {
        do {
            return try stripe.step(closing: closing(stripe))
        } catch let failure as SFTPFailure where stripe.isJoining && !failure.isConnectionLost {
            refused.append(stripe)
            stripes.removeAll { $0 === stripe }
            peakStripes = min(stripes.count, maximum)  // the refused one was the newest; stripes never shrink otherwise
            growthRefused = true
            spares?.logger.info("the SSH server refused another SFTP channel (\(failure)); this upload goes on with \(stripes.count) streams (sshd's MaxSessions, default 10, bounds the channels of one SSH session)")
            return .idle
        } catch let failure as SFTPFailure {
            abandon(failed: stripe, connectionLost: failure.isConnectionLost)
            throw failure
        }
    }

    /// Whether `stripe` may close its handle now: the extra stripes once the upload ends (each after its own bytes are
    /// acknowledged); the one syncing the file only once every stripe's are; the upload's own handle only when
    /// `finish` closes it.
    private func closing(_ stripe: SFTPUploadStripe) -> Bool {
        guard finishing else { return false }
        if stripe === primary { return closesPrimary }
        if stripe === syncStripe { return holder == nil && stripes.allSatisfy { $0.unacknowledged == 0 } }
        return true
    }

    /// Once per round trip: more stripes when the stripes moved at least a third of what their windows allow.
    private func considerGrowing() {
        for stripe in stripes { if let sample = stripe.roundTripSample { roundTrip = min(roundTrip ?? sample, sample) } }
        guard !finishing else { return }
        // A new channel once the one before it is open (libssh2 opens one channel at a time per session); the
        // subsystem and SFTP start of each overlap.
        if stripes.count < wanted, !growthRefused, !stripes.contains(where: { $0.isOpeningChannel }) {
            if let spare = spares?.takeSpare(on: session) {
                stripes.append(SFTPRawStripe(channel: spare, path: path))
            } else {
                stripes.append(SFTPRawStripe(startingOn: session, path: path))
            }
            notePeak()
            spares?.logger.info("upload of \(String(decoding: path, as: UTF8.self)): SFTP stream \(stripes.count) added")
        }
        guard let roundTrip else { return }
        let now = Monotonic.now()
        let elapsed = now - intervalStart
        guard elapsed >= roundTrip else { return }
        defer { intervalStart = now; intervalAcknowledged = 0 }
        let writing = stripes.filter { $0.state == .open }.count
        guard stripes.count <= maximum, !growthRefused else { return }
        let allowed = Double(writing * SFTPStripedWriter.serverWindow) * elapsed / roundTrip
        guard Double(intervalAcknowledged) * 3 >= allowed, stripes.count >= wanted else { return }
        // The stripes double per round trip, counting those still joining (they start window-limited like the
        // rest): kept channels join at once, new ones open back to back (above).
        wanted = min(maximum + 1, 2 * stripes.count)
        while stripes.count < wanted, let spare = spares?.takeSpare(on: session) {
            stripes.append(SFTPRawStripe(channel: spare, path: path))
        }
        notePeak()
        spares?.logger.info("upload of \(String(decoding: path, as: UTF8.self)): growing to \(wanted) SFTP streams (\(intervalAcknowledged) bytes acknowledged in \(String(format: "%.0f", elapsed * 1000)) ms, round trip \(String(format: "%.0f", roundTrip * 1000)) ms)")
    }

    /// The end of the acknowledged prefix, dropping segments acknowledged whole.
    private func settledPrefix() -> Int64 {
        while let first = segments.first {
            // Each stripe's segments are in file order and acknowledged in order.
            let acknowledgedTo = min(first.end, max(first.start, first.stripe.offset))
            if acknowledgedTo >= first.end, segments.count > 1 {
                prefixEnd = first.end
                segments.removeFirst()
                continue
            }
            prefixEnd = max(prefixEnd, min(acknowledgedTo, first.end))
            break
        }
        return prefixEnd
    }
}
