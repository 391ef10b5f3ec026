import CLibSSH2
import FTPServerKit

/// An extra stream of a striped upload on a raw SFTP channel (`SFTPRawChannel`): it frames its own WRITE requests,
/// so it takes segments at any offset with earlier ones still in flight, and keeps its channel's send window full
/// (libssh2's SFTP handle cannot seek with writes in flight). The server answers a channel's requests in order,
/// so acknowledgements come oldest first; a reply out of that order fails the stripe.
///
/// The one-partial-packet rule: a `libssh2_channel_write` that would block is repeated with the identical
/// pointer and length (`outbound` does not move or change until then), before anything else on the session while
/// the session's gate is held for a half-sent packet (the writer keeps the other stripes quiet meanwhile). Every
/// libssh2 call, including the ones that only look at libssh2's state, goes through the session's `SessionGate`
/// (other FTP sessions' threads use the same SSH session), and the channel open takes the gate's channel-start
/// turn (libssh2 1.10 keeps one channel open's state per session).
final class SFTPRawStripe: SFTPUploadStripe {
    private enum Phase {
        /// `libssh2_channel_open_ex` in flight (one per session at a time).
        case openingChannel
        /// The `sftp` subsystem request in flight.
        case startingSubsystem
        /// INIT (if needed) and OPEN sent; waiting for VERSION and HANDLE.
        case openingFile
        case open
        /// CLOSE sent.
        case closing
        case closed
    }

    /// Bytes a stripe holds unacknowledged: about two of sshd's 2 MiB channel windows.
    static let defaultCapacity = 2 * SFTPStripedWriter.segmentSize
    /// Outgoing bytes framed at a time (several WRITE requests).
    static let outboundSize = 128 * 1024
    /// Bytes one step sends at most, so one stripe does not keep the others waiting.
    static let stepBudget = 512 * 1024

    let path: [UInt8]
    let capacity: Int
    private let session: SSHSession
    private(set) var raw: SFTPRawChannel?
    private var phase: Phase
    private var openAttempted = false
    private var handle: [UInt8] = []
    private var openID: UInt32?
    private var closeID: UInt32?
    private var fsyncID: UInt32?
    /// Set by the writer on one stripe: its CLOSE is preceded by fsync@openssh.com (pipelined), which makes every
    /// stripe's acknowledged bytes durable (fsync(2) flushes the file, whichever process wrote it).
    var syncsBeforeClose = false
    /// The fsync@openssh.com before the CLOSE succeeded.
    private(set) var synced = false

    /// Bytes given and not yet framed: `data[dataStart...]`, in the file ranges `ranges` (in order).
    private var data: [UInt8] = []
    private var dataStart = 0
    private var ranges: [(offset: Int64, count: Int)] = []
    /// WRITE requests sent (or being sent) and not yet acknowledged, oldest first.
    private var inFlight: [(id: UInt32, offset: Int64, count: Int)] = []
    private var inFlightHead = 0
    private var inFlightBytes = 0
    /// End of the last byte given.
    private var givenEnd: Int64 = 0

    /// Framed requests: `outbound[sent..<filled]` is not yet accepted by libssh2. Never moves or changes while a
    /// write is to be repeated.
    private let outbound = UnsafeMutableRawBufferPointer.allocate(byteCount: SFTPRawStripe.outboundSize, alignment: 8)
    private var sent = 0
    private var filled = 0
    /// The last `libssh2_channel_write` would block: it must be repeated as it was.
    private var repeatWrite = false
    /// The last read would block in its window adjustment: it must be repeated.
    private var repeatRead = false
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 32 * 1024, alignment: 8)

    private(set) var segmentBytes = 0
    private(set) var roundTripSample: Double?
    private var timed: (id: UInt32, at: Double)?

    /// A stripe whose channel is opened by its first steps on `session`.
    init(startingOn session: SSHSession, path: [UInt8], capacity: Int = SFTPRawStripe.defaultCapacity) {
        self.session = session
        self.path = path
        self.capacity = capacity
        phase = .openingChannel
    }

    /// A stripe on a kept channel (INIT done): only the OPEN remains.
    init(channel: SFTPRawChannel, path: [UInt8], capacity: Int = SFTPRawStripe.defaultCapacity) {
        session = channel.session
        raw = channel
        self.path = path
        self.capacity = capacity
        phase = .openingFile
        queueOpen()
    }

    deinit {
        outbound.deallocate()
        scratch.deallocate()
    }

    // MARK: SFTPUploadStripe

    var state: SFTPStripe.State {
        switch phase {
        case .openingChannel, .startingSubsystem: return .startingChannel
        case .openingFile: return .openingFile
        case .open: return .open
        case .closing: return .closing
        case .closed: return .closed
        }
    }

    var isOpeningChannel: Bool { phase == .openingChannel && openAttempted }
    var isJoining: Bool { phase == .openingChannel || phase == .startingSubsystem }
    /// Open with the file's handle, on a channel whose server offers fsync@openssh.com.
    var canSync: Bool { phase == .open && raw?.extensions.contains(SFTPWire.fsyncExtension) == true }
    var unacknowledged: Int { (data.count - dataStart) + inFlightBytes }
    var canTakeSegment: Bool { phase == .open && unacknowledged + SFTPStripedWriter.segmentSize <= capacity }
    /// Inside the gate only (`SFTPStripedWriter` asks through it).
    var hasQueuedData: Bool { raw?.channel.hasQueuedData ?? false }

    var offset: Int64 {
        if inFlightHead < inFlight.count { return inFlight[inFlightHead].offset }
        if let first = ranges.first(where: { $0.count > 0 }) { return first.offset }
        return givenEnd
    }

    func beginSegment(at fileOffset: Int64) {
        precondition(phase == .open)
        ranges.append((fileOffset, 0))
        givenEnd = fileOffset
        segmentBytes = 0
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        if dataStart > 0, dataStart >= data.count / 2 {
            data.removeFirst(dataStart)
            dataStart = 0
        }
        data.append(contentsOf: bytes)
        ranges[ranges.count - 1].count += bytes.count
        givenEnd += Int64(bytes.count)
        segmentBytes += bytes.count
    }

    func step(closing wanted: Bool) throws -> SFTPStripe.Outcome {
        switch phase {
        case .openingChannel:
            if wanted, !openAttempted {
                phase = .closed
                return .progress(acknowledged: 0)
            }
            guard session.gate.claimChannelStart() else { return .blocked(outbound: false) }
            openAttempted = true
            let opened: SSHResult<SSHChannel>
            do {
                opened = try wrap("libssh2_channel_open_ex (session)") {
                    try session.openSessionChannel(window: SFTPRawChannel.receiveWindow, packetSize: SFTPRawChannel.packetSize)
                }
            } catch {
                session.gate.releaseChannelStart()
                throw error
            }
            guard case .done(let channel) = opened else { return blocked() }
            session.gate.releaseChannelStart()
            raw = SFTPRawChannel(channel: channel)
            phase = .startingSubsystem
            return .progress(acknowledged: 0)
        case .startingSubsystem:
            guard let raw else { return .idle }
            guard case .done = try wrap("libssh2_channel_process_startup (subsystem sftp)", { try raw.channel.startSubsystem("sftp") }) else {
                return blocked()
            }
            queue(SFTPWire.initRequest())
            // Nothing is written for an upload that ends before the file is open: the channel is still initialized
            // and kept.
            if !wanted { queueOpen() }
            phase = .openingFile
            return .progress(acknowledged: 0)
        case .openingFile, .open, .closing:
            return try exchange(closing: wanted)
        case .closed:
            return .idle
        }
    }

    func abandon() {
        if phase == .openingChannel, openAttempted { session.gate.releaseChannelStart() }
        raw?.isDesynchronized = true
        phase = .closed
    }

    // MARK: Exchange

    /// Sends what is framed (and frames more), reads replies; one outcome for all of it.
    private func exchange(closing wanted: Bool) throws -> SFTPStripe.Outcome {
        guard let raw else { return .idle }
        // A half-sent packet first, alone; a write that only waits for window lets the replies be read (so none
        // stay queued inside libssh2 while the writer waits on the socket), its bytes untouched until repeated.
        if repeatWrite, case .blocked(outbound: true) = try send(raw) { return .blocked(outbound: true) }
        if repeatRead, case .blocked(outbound: true) = try receive(raw, closing: wanted) { return .blocked(outbound: true) }
        var acknowledged = 0
        var moved = false
        switch try receive(raw, closing: wanted) {
        case .blocked(outbound: true): return .blocked(outbound: true)
        case .progress(let count): acknowledged += count; moved = true
        default: break
        }
        var budget = SFTPRawStripe.stepBudget
        while budget > 0 {
            if sent == filled { frame(closing: wanted) }
            guard sent < filled else { break }
            let before = sent
            let outcome = try send(raw)
            budget -= sent - before
            if case .blocked(outbound: true) = outcome { return outcome }
            guard case .progress = outcome else { break }
            moved = true
        }
        if phase == .closed { moved = true }
        return moved ? .progress(acknowledged: acknowledged) : .blocked(outbound: false)
    }

    /// One `libssh2_channel_write` of the framed bytes not yet accepted (only when the window allows, or to repeat
    /// a write that would block).
    private func send(_ raw: SFTPRawChannel) throws -> SFTPStripe.Outcome {
        guard sent < filled else { repeatWrite = false; return .idle }
        if !repeatWrite {
            guard case .done(let window) = try wrap("libssh2_channel_window_write_ex", { .done(raw.channel.sendWindowLeft) }),
                  window > 0 else { return .blocked(outbound: false) }
        }
        let pending = UnsafeRawBufferPointer(rebasing: outbound[sent..<filled])
        let result = try wrap("libssh2_channel_write_ex (SFTP requests)") { try raw.channel.write(pending) }
        guard case .done(let count) = result else {
            repeatWrite = true
            return blocked()
        }
        repeatWrite = false
        guard count > 0 else { return .blocked(outbound: false) }
        sent += count
        if sent == filled { sent = 0; filled = 0 }
        return .progress(acknowledged: 0)
    }

    /// Reads what the server sent and settles the replies.
    private func receive(_ raw: SFTPRawChannel, closing wanted: Bool) throws -> SFTPStripe.Outcome {
        var acknowledged = 0
        var moved = false
        for _ in 0..<16 {
            let result = try wrap("libssh2_channel_read_ex (SFTP replies)") { try raw.channel.read(into: scratch) }
            guard case .done(let count) = result else {
                repeatRead = session.gate.isHeldByCurrentThread
                if repeatRead { return .blocked(outbound: true) }
                break
            }
            repeatRead = false
            if count == 0 {
                if case .done(true) = try wrap("libssh2_channel_eof", { .done(raw.channel.isEOF) }) { throw failure("the SFTP server closed the stream", function: "libssh2_channel_read_ex (SFTP replies)") }
                break
            }
            raw.reader.feed(UnsafeRawBufferPointer(rebasing: scratch[..<count]))
            moved = true
            while let reply = try decoded(raw) { acknowledged += try settle(reply, raw: raw, closing: wanted) }
            if count < scratch.count { break }
        }
        return moved ? .progress(acknowledged: acknowledged) : .idle
    }

    private func decoded(_ raw: SFTPRawChannel) throws -> SFTPReply? {
        do {
            return try raw.reader.next()
        } catch let error as SFTPWireError {
            throw failure(error.description, function: "SFTP reply")
        }
    }

    /// Applies one reply; returns the bytes it acknowledged.
    private func settle(_ reply: SFTPReply, raw: SFTPRawChannel, closing wanted: Bool) throws -> Int {
        switch reply {
        case .version(_, let extensions):
            guard !raw.isInitialized else { throw failure("the SFTP server sent a second VERSION", function: "SFTP reply") }
            raw.isInitialized = true
            raw.extensions = Set(extensions)
            if openID == nil, phase == .openingFile { phase = .closed }
            return 0
        case .handle(let id, let handle):
            guard phase == .openingFile, id == openID, raw.isInitialized else {
                throw failure("the SFTP server sent a HANDLE for request \(id), which did not ask for one", function: "SFTP reply")
            }
            self.handle = handle
            openID = nil
            phase = .open
            return 0
        case .status(let id, let code, let message):
            if id == openID { throw failure(message, function: "SFTP OPEN (write)", status: code) }
            if id == fsyncID {
                guard code == SFTPWire.statusOK else { throw failure(message, function: "SFTP fsync@openssh.com", status: code) }
                fsyncID = nil
                synced = true
                return 0
            }
            if id == closeID {
                guard code == SFTPWire.statusOK else { throw failure(message, function: "SFTP CLOSE", status: code) }
                guard fsyncID == nil else {
                    throw failure("the SFTP server answered CLOSE before the fsync@openssh.com sent ahead of it", function: "SFTP reply")
                }
                closeID = nil
                handle = []
                phase = .closed
                return 0
            }
            guard inFlightHead < inFlight.count, inFlight[inFlightHead].id == id else {
                throw failure("the SFTP server answered request \(id), which is not the oldest in flight", function: "SFTP reply")
            }
            guard code == SFTPWire.statusOK else { throw failure(message, function: "SFTP WRITE", status: code) }
            let request = inFlight[inFlightHead]
            inFlightHead += 1
            if inFlightHead == inFlight.count || inFlightHead >= 1024 {
                inFlight.removeFirst(inFlightHead)
                inFlightHead = 0
            }
            inFlightBytes -= request.count
            if let timed, timed.id == id {
                roundTripSample = Monotonic.now() - timed.at
                self.timed = nil
            }
            return request.count
        case .data, .attributes:
            throw failure("the SFTP server sent \(reply.id.map { "a reply to request \($0)" } ?? "a reply") that a write never gets", function: "SFTP reply")
        }
    }

    // MARK: Framing

    /// Frames WRITE requests from the given bytes into `outbound` (which is empty), or the CLOSE once every byte
    /// is acknowledged and the upload is ending.
    private func frame(closing wanted: Bool) {
        precondition(sent == 0 && filled == 0 && !repeatWrite)
        guard phase == .open else { return }
        let headerSize = SFTPWire.writeHeaderSize(handle: handle)
        while let range = ranges.first {
            if range.count == 0 {
                if ranges.count == 1 { break }
                ranges.removeFirst()
                continue
            }
            let count = min(range.count, SFTPWire.writeChunk)
            guard SFTPRawStripe.outboundSize - filled >= headerSize + count else { break }
            guard let raw else { return }
            let id = raw.takeID()
            SFTPWire.writeHeader(id: id, handle: handle, offset: range.offset, count: count,
                                 into: UnsafeMutableRawBufferPointer(rebasing: outbound[filled..<(filled + headerSize)]))
            filled += headerSize
            data.withUnsafeBytes { bytes in
                UnsafeMutableRawBufferPointer(rebasing: outbound[filled..<(filled + count)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[dataStart..<(dataStart + count)]))
            }
            filled += count
            dataStart += count
            ranges[0] = (range.offset + Int64(count), range.count - count)
            if timed == nil { timed = (id, Monotonic.now()) }
            inFlight.append((id, range.offset, count))
            inFlightBytes += count
        }
        if wanted, filled == 0, unacknowledged == 0, closeID == nil, let raw {
            if syncsBeforeClose {
                let id = raw.takeID()
                fsyncID = id
                queue(SFTPWire.fsyncRequest(id: id, handle: handle))
            }
            let id = raw.takeID()
            closeID = id
            queue(SFTPWire.closeRequest(id: id, handle: handle))
            phase = .closing
        }
    }

    private func queueOpen() {
        guard let raw else { return }
        let id = raw.takeID()
        openID = id
        queue(SFTPWire.openRequest(id: id, path: path))
    }

    /// Appends a small request to `outbound` (only between writes: never while one is to be repeated).
    private func queue(_ request: [UInt8]) {
        precondition(!repeatWrite && filled + request.count <= SFTPRawStripe.outboundSize)
        request.withUnsafeBytes { bytes in
            UnsafeMutableRawBufferPointer(rebasing: outbound[filled..<(filled + bytes.count)]).copyMemory(from: bytes)
        }
        filled += request.count
    }

    // MARK: Failures

    private func blocked() -> SFTPStripe.Outcome { .blocked(outbound: session.gate.isHeldByCurrentThread) }

    /// One try of `body` through the gate (waiting for another thread's call at most `stallSeconds`); a libssh2
    /// failure becomes the stripe's `SFTPFailure`.
    private func wrap<T>(_ function: String, _ body: () throws -> SSHResult<T>) throws -> SSHResult<T> {
        do {
            return try session.gate.attempt(function, until: Monotonic.now() + SFTPStripedWriter.stallSeconds, body)
        } catch let failure as LibSSH2Failure {
            raw?.isDesynchronized = true
            throw SFTPFailure(function: function, path: path, code: failure.code, status: nil, message: failure.message)
        }
    }

    private func failure(_ message: String, function: String, status: UInt32? = nil) -> SFTPFailure {
        raw?.isDesynchronized = true
        return SFTPFailure(function: function, path: path, code: LIBSSH2_ERROR_SFTP_PROTOCOL, status: status.map { UInt($0) },
                           message: message.isEmpty ? "SFTP status \(status ?? 0)" : message)
    }
}
