import FTPServerKit
import Foundation

/// The upload's own SFTP channel and handle as a stripe of a striped upload: it writes one segment (a contiguous
/// range of the file) at a time, and takes the next segment only when every byte of the current one is
/// acknowledged (a seek discards libssh2's requests in flight). Non-blocking; driven by `SFTPStripedWriter`.
/// The extra streams are `SFTPRawStripe`s.
final class SFTPStripe {
    enum State {
        /// The channel is being opened or its subsystem started (`SFTPRawStripe`).
        case startingChannel
        /// The file's open in flight on this channel (`SFTPRawStripe`).
        case openingFile
        /// The handle is open: writing, or waiting for a segment.
        case open
        /// The handle's close in flight.
        case closing
        /// No handle (closed, or never opened).
        case closed
    }

    /// What one `step` did.
    enum Outcome: Equatable {
        /// Something moved: `acknowledged` bytes of this stripe's segment were acknowledged (0: a request went out,
        /// a channel or handle opened or closed).
        case progress(acknowledged: Int)
        /// libssh2 would block; `outbound`: a packet is half sent, and this stripe's same call must come next.
        case blocked(outbound: Bool)
        /// Nothing to do.
        case idle
    }

    private(set) var sftp: SFTPSession?
    private(set) var handle: SFTPHandle?
    private(set) var state: State
    /// The file whose ranges this stripe writes.
    let path: [UInt8]
    /// The current segment's unacknowledged bytes: `buffer[start...]`, the first at file offset `offset`.
    private var buffer: [UInt8] = []
    private var start = 0
    private(set) var offset: Int64 = 0
    /// Bytes given to the current segment so far (acknowledged or not).
    private(set) var segmentBytes = 0
    /// When the current segment's first request went out (monotonic), until its first acknowledgement.
    private var segmentSentAt: Double?
    /// Round trip seen by this segment's first acknowledgement.
    private(set) var roundTripSample: Double?
    /// The stripe of the upload's own handle (already open and positioned).
    init(primary channel: SFTPSession, handle: SFTPHandle, path: [UInt8]) {
        sftp = channel
        self.handle = handle
        self.path = path
        state = .open
    }

    /// Open, every byte given to it acknowledged: ready for a new segment.
    var isIdle: Bool { state == .open && start == buffer.count }
    /// Bytes given to it and not yet acknowledged.
    var unacknowledged: Int { buffer.count - start }

    /// Starts a new segment at `fileOffset` (only when `isIdle`).
    func beginSegment(at fileOffset: Int64) {
        precondition(isIdle)
        buffer.removeAll(keepingCapacity: true)
        start = 0
        segmentBytes = 0
        handle?.seek(to: fileOffset)
        offset = fileOffset
        segmentSentAt = nil
        roundTripSample = nil
    }

    /// Appends bytes to the current segment (right after its last byte: the segment grows).
    func append(_ bytes: UnsafeRawBufferPointer) {
        if start > 0, start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
        segmentBytes += bytes.count
    }

    /// One non-blocking move: write what is pending, or close.
    func step(closing wanted: Bool = false) throws -> Outcome {
        switch state {
        case .startingChannel, .openingFile:
            return .idle
        case .open:
            guard let handle, let sftp else { return .idle }
            if start < buffer.count {
                if segmentSentAt == nil { segmentSentAt = Monotonic.now() }
                let result = try buffer.withUnsafeBytes { bytes in
                    try handle.attemptWrite(UnsafeRawBufferPointer(rebasing: bytes[start...]))
                }
                guard case .done(let acknowledged) = result else { return blocked(sftp.session) }
                guard acknowledged > 0 else { return .blocked(outbound: false) }
                if let sentAt = segmentSentAt, roundTripSample == nil { roundTripSample = Monotonic.now() - sentAt }
                start += acknowledged
                offset += Int64(acknowledged)
                return .progress(acknowledged: acknowledged)
            }
            guard wanted else { return .idle }
            state = .closing
            return .progress(acknowledged: 0)
        case .closing:
            guard let handle, let sftp else { state = .closed; return .idle }
            guard try handle.attemptClose() else { return blocked(sftp.session) }
            self.handle = nil
            state = .closed
            return .progress(acknowledged: 0)
        case .closed:
            return .idle
        }
    }

    /// Forgets the handle without a word to the server (after a failure: the channel is shut down instead).
    func abandon() {
        sftp?.markDesynchronized()
        handle?.close()
        handle = nil
        state = .closed
    }

    private func blocked(_ session: SSHSession) -> Outcome {
        .blocked(outbound: session.gate.isHeldByCurrentThread)
    }
}

extension SFTPStripe: SFTPUploadStripe {
    var isOpeningChannel: Bool { false }
    var isJoining: Bool { false }
    var capacity: Int { SFTPStripedWriter.segmentSize }
    var canTakeSegment: Bool { isIdle }
    /// Inside the gate only (`SFTPStripedWriter` asks through it).
    var hasQueuedData: Bool { sftp?.hasQueuedData == true }
}
