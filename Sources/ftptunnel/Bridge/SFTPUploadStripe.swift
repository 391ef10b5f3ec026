/// One stream of a striped upload as `SFTPStripedWriter` drives it: the upload's own libssh2 handle
/// (`SFTPStripe`) or an extra channel framed by the bridge (`SFTPRawStripe`). Non-blocking.
protocol SFTPUploadStripe: AnyObject {
    var state: SFTPStripe.State { get }
    /// True while its channel is being opened: libssh2 opens one channel at a time per session.
    var isOpeningChannel: Bool { get }
    /// True while the server may still refuse the stream (channel open, subsystem start): a refusal stops growth
    /// instead of failing the upload.
    var isJoining: Bool { get }
    /// Every byte given to it below this file offset is acknowledged (the next unacknowledged byte, or the end).
    var offset: Int64 { get }
    /// Bytes given to it and not yet acknowledged.
    var unacknowledged: Int { get }
    /// The most bytes it holds unacknowledged.
    var capacity: Int { get }
    /// Bytes given to its current segment.
    var segmentBytes: Int { get }
    /// Able to start a new segment now.
    var canTakeSegment: Bool { get }
    /// A recent round trip of one of its requests.
    var roundTripSample: Double? { get }
    /// Data for it already queued inside libssh2 (poll(2) does not see it).
    var hasQueuedData: Bool { get }

    /// Starts a new segment at `fileOffset` (only when `canTakeSegment`).
    func beginSegment(at fileOffset: Int64)
    /// Appends bytes to the current segment.
    func append(_ bytes: UnsafeRawBufferPointer)
    /// One non-blocking move; `closing`: the upload is ending, close its handle once everything is acknowledged.
    func step(closing: Bool) throws -> SFTPStripe.Outcome
    /// Forgets its requests without a word to the server (after a failure): its channel is not kept.
    func abandon()
}
