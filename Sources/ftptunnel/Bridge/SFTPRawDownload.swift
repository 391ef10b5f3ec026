import CLibSSH2
import FTPServerKit

/// A RETR's bytes read over a raw SFTP channel (`SFTPRawChannel`) with up to `window` bytes of READ requests in
/// flight. libssh2 1.10 keeps at most 8 MiB of reads in flight per handle, which bounds a download at 8 MiB per
/// round trip (168 MB/s at 50 ms, and less once the bridge's own work is counted); here the bound is `window`.
///
/// The file is opened again on the raw channel, so it must be the file the RETR opened: its FSTAT (sent with the
/// first READs; it is answered before them) must report the size and modification time the upload's handle did,
/// or nothing is sent to the client and the caller reads through its own handle instead. Then READs of
/// `requestSize` go out in file order and the server answers them in order (OpenSSH's sftp-server works through
/// one request at a time): each DATA must be the oldest request's and whole. A short DATA or an EOF before the end
/// means the file shrank while it was sent: the transfer fails (426), as through the handle. Memory: at most
/// `window` bytes answered and not yet read (the channel's window is larger, so it is never the limit), one reply
/// being decoded, and `flushSize` bytes waiting for the client.
///
/// Non-blocking on the shared session (the one-partial-packet rule: a write or read that would block with a packet
/// half sent is repeated alone). A channel that ends with requests in flight (a failure, an ABOR, a client gone) is
/// left out of step (`isDesynchronized`: the caller shuts it down); one that ends clean (CLOSE answered) stays in
/// step and can be kept for the FTP session.
final class SFTPRawDownload {
    /// Bytes per READ: every SFTP server must answer a 32 KiB read whole (draft-02 allows it to send less; OpenSSH
    /// does only at the end of the file).
    static let requestSize = 32768
    /// Bytes of READs in flight.
    static let window = 16 << 20
    /// Bytes gathered before they go to the client.
    static let flushSize = 1 << 20
    /// Seconds without any byte from the server after which the download fails.
    static let stallSeconds = SFTPBridge.sshTimeout

    let raw: SFTPRawChannel
    let path: [UInt8]

    private var session: SSHSession { raw.session }
    private var handle: [UInt8] = []
    /// READs sent or framed and not yet answered, oldest first: `inFlight[inFlightHead...]`.
    private var inFlight: [(id: UInt32, count: Int)] = []
    private var inFlightHead = 0
    private var inFlightBytes = 0
    private var fstatID: UInt32?
    /// The CLOSE sent after the last READ; `closeID` is cleared by its answer.
    private var closeID: UInt32?
    private var closeSent = false
    /// Framed requests not yet taken by libssh2: `outbound[sent..<filled]`; never changes while a write is repeated.
    private let outbound = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 8)
    private var sent = 0
    private var filled = 0
    private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 8)
    /// The call that must come next, alone (it would block with a packet half sent).
    private enum Repeat { case none, write, read }
    private var repeating = Repeat.none

    init(raw: SFTPRawChannel, path: [UInt8]) {
        self.raw = raw
        self.path = path
    }

    deinit {
        outbound.deallocate()
        scratch.deallocate()
    }

    /// What `send` did.
    enum Outcome {
        /// The transfer ended (completed, or failed part way: the client got some bytes).
        case ended(TransferEnd)
        /// Nothing reached the client: the file on the channel is not the RETR's, or the server refused the open.
        case notUsed(String)
    }

    /// Sends `count` bytes from `offset` over `data`, checking first that the file is the one described by `size`
    /// and `modified`.
    func send(from offset: Int64, count: Int64, size: UInt64?, modified: Int?, over data: DataConnection) -> Outcome {
        do {
            let openID = raw.takeID()
            let opened = try raw.call(SFTPWire.openRequest(id: openID, path: path, flags: SFTPWire.openRead), id: openID,
                                      function: "SFTP OPEN (read)", path: path)
            guard case .handle(_, let handle) = opened else { return .notUsed("the SFTP server refused the open: \(opened)") }
            self.handle = handle
        } catch {
            return .notUsed("\(error)")
        }
        let outcome: Outcome
        do {
            outcome = try stream(from: offset, count: count, size: size, modified: modified, over: data)
        } catch {
            raw.isDesynchronized = true
            return .ended(.failed("\(error)"))
        }
        if closeID == nil, fstatID == nil, inFlightHead == inFlight.count, sent == filled, repeating == .none, !raw.isDesynchronized {
            // Nothing in flight any more: the CLOSE went with the last READs, or is sent now (the file changed before
            // any READ went out; a failed CLOSE leaves the channel out of step).
            if !closeSent {
                let id = raw.takeID()
                _ = try? raw.call(SFTPWire.closeRequest(id: id, handle: handle), id: id, function: "SFTP CLOSE", path: path)
            }
        } else {
            raw.isDesynchronized = true
        }
        return outcome
    }

    private func stream(from offset: Int64, count: Int64, size: UInt64?, modified: Int?, over data: DataConnection) throws -> Outcome {
        var nextOffset = offset
        let end = offset + count
        var delivered: Int64 = 0
        var pending: [UInt8] = []
        pending.reserveCapacity(SFTPRawDownload.flushSize + scratch.count)
        var checked = false
        var lastProgress = Monotonic.now()
        let id = raw.takeID()
        fstatID = id
        queue(SFTPWire.fstatRequest(id: id, handle: handle))
        while delivered < count || closeID != nil {
            let since = session.gate.generation
            var moved = false
            // More READs while the window allows, then the CLOSE (only between writes).
            if sent == filled, repeating == .none {
                sent = 0
                filled = 0
                let requestBytes = SFTPWire.readRequestSize(handle: handle)
                while nextOffset < end, inFlightBytes + SFTPRawDownload.requestSize <= SFTPRawDownload.window,
                      filled + requestBytes <= outbound.count {
                    let length = Int(min(Int64(SFTPRawDownload.requestSize), end - nextOffset))
                    let request = raw.takeID()
                    queue(SFTPWire.readRequest(id: request, handle: handle, offset: nextOffset, count: UInt32(length)))
                    inFlight.append((request, length))
                    inFlightBytes += length
                    nextOffset += Int64(length)
                }
                if nextOffset == end, !closeSent, filled + requestBytes <= outbound.count {
                    let request = raw.takeID()
                    queue(SFTPWire.closeRequest(id: request, handle: handle))
                    closeID = request
                    closeSent = true
                }
            }
            if repeating != .read, sent < filled {
                let pendingBytes = UnsafeRawBufferPointer(rebasing: outbound[sent..<filled])
                switch try attempt("libssh2_channel_write_ex (SFTP READ requests)", { try raw.channel.write(pendingBytes) }) {
                case .done(let count):
                    repeating = .none
                    sent += count
                    if count > 0 { moved = true }
                case .wouldBlock:
                    if session.gate.isHeldByCurrentThread { repeating = .write }
                }
            }
            if repeating != .write {
                switch try attempt("libssh2_channel_read_ex (SFTP DATA)", { try raw.channel.read(into: scratch) }) {
                case .done(let count) where count > 0:
                    repeating = .none
                    moved = true
                    raw.reader.feed(UnsafeRawBufferPointer(rebasing: scratch[..<count]))
                    while let reply = try raw.reader.next() {
                        switch reply {
                        case .attributes(let replyID, let replySize, let replyModified, _) where replyID == fstatID:
                            fstatID = nil
                            guard replySize == size, replyModified.map(Int.init) == modified else {
                                return .notUsed("the file changed between its two opens (size \(replySize.map(String.init) ?? "?") against \(size.map(String.init) ?? "?"))")
                            }
                            checked = true
                        case .status(let replyID, _, let message) where replyID == fstatID:
                            fstatID = nil
                            return .notUsed("the SFTP server refused FSTAT: \(message)")
                        case .data(let replyID, let bytes):
                            guard checked, inFlightHead < inFlight.count, inFlight[inFlightHead].id == replyID else {
                                throw SFTPWireError(description: "the SFTP server answered request \(replyID), which is not the oldest READ in flight")
                            }
                            let wanted = inFlight[inFlightHead].count
                            guard bytes.count == wanted else {
                                throw SFTPWireError(description: "file ended early (\(bytes.count) of \(wanted) bytes at offset \(offset + delivered): truncated on the server while sending)")
                            }
                            inFlightHead += 1
                            inFlightBytes -= wanted
                            if inFlightHead >= 4096 {
                                inFlight.removeFirst(inFlightHead)
                                inFlightHead = 0
                            }
                            pending.append(contentsOf: bytes)
                            delivered += Int64(wanted)
                        case .status(let replyID, _, _) where replyID == closeID && inFlightHead == inFlight.count:
                            closeID = nil  // a read-only close: its status changes nothing
                        case .status(_, let code, let message) where code == SFTPWire.statusEOF:
                            throw SFTPWireError(description: "file ended early (truncated on the server while sending)\(message.isEmpty ? "" : ": \(message)")")
                        default:
                            throw SFTPWireError(description: "the SFTP server sent \(reply) during a download")
                        }
                    }
                case .done:
                    repeating = .none
                    if case .done(true) = try attempt("libssh2_channel_eof", { .done(raw.channel.isEOF) }) {
                        throw SFTPWireError(description: "the SFTP server closed the stream")
                    }
                case .wouldBlock:
                    if session.gate.isHeldByCurrentThread { repeating = .read }
                }
            }
            if !pending.isEmpty, pending.count >= SFTPRawDownload.flushSize || !moved || delivered == count {
                let sentToClient = data.send(pending)
                pending.removeAll(keepingCapacity: true)
                guard sentToClient == .completed else { return .ended(sentToClient) }
                lastProgress = Monotonic.now()
                continue
            }
            if moved {
                lastProgress = Monotonic.now()
                continue
            }
            // Replies libssh2 already queued do not make the socket readable: one more read looks first.
            if repeating == .none, case .done(true)? = try? session.gate.attempt("libssh2_channel_window_read_ex", until: Monotonic.now() + 1, {
                .done(raw.channel.hasQueuedData)
            }) { continue }
            _ = session.gate.waitForProgress("libssh2_channel_read_ex (SFTP DATA)", since: since, until: Monotonic.now() + 1)
            if Monotonic.now() - lastProgress > SFTPRawDownload.stallSeconds {
                session.gate.markLost("a download stopped getting answers for \(Int(SFTPRawDownload.stallSeconds)) s")
                throw SFTPWireError(description: "the SFTP server sent nothing for \(Int(SFTPRawDownload.stallSeconds)) s")
            }
        }
        return .ended(.completed)
    }

    /// Appends a request to `outbound` (only between writes).
    private func queue(_ request: [UInt8]) {
        precondition(repeating != .write && filled + request.count <= outbound.count)
        request.withUnsafeBytes { bytes in
            UnsafeMutableRawBufferPointer(rebasing: outbound[filled..<(filled + bytes.count)]).copyMemory(from: bytes)
        }
        filled += request.count
    }

    /// One try through the gate (waiting for another thread's call at most `stallSeconds`).
    private func attempt<T>(_ function: String, _ body: () throws -> SSHResult<T>) throws -> SSHResult<T> {
        try session.gate.attempt(function, until: Monotonic.now() + SFTPRawDownload.stallSeconds, body)
    }
}
