import Foundation
import Logging
import TestSupport
@testable import ftptunnel

/// The real `SessionLane` on a `ScriptedSession`, with the forwarding loop's local side played in memory: each
/// pass feeds the clients' bytes into `toChannel` (in chunks of varying size, as local reads arrive), runs the
/// lane's calls, hands what it read to the clients, and lets the scripted servers end their streams.
final class LaneRig: LaneHost {
    let session = ScriptedSession()
    private(set) var lane: SessionLane!
    private(set) var forwards: [Forward] = []
    /// Per forward id: what its client sends, how much of it was fed, what it received.
    private var uploads: [Int: [UInt8]] = [:]
    private var fed: [Int: Int] = [:]
    private(set) var delivered: [Int: [UInt8]] = [:]
    /// Per forward id: what its server sends once the channel is open.
    private var downloads: [Int: [UInt8]] = [:]
    private var served: Set<Int> = []
    /// Forwards whose client is told nothing yet (no bytes fed, no end).
    var withheld: Set<Int> = []
    /// Forwards whose client reads nothing (what the lane hands on stays in `toLocal`).
    var stalled: Set<Int> = []
    private(set) var finished: [Int] = []
    private(set) var passes = 0
    private var random: SeededRandom

    init(seed: UInt64 = 1, keepaliveInterval: Int = 0) {
        random = SeededRandom(seed: seed)
        var logger = Logger(label: "lane-seam-test")
        logger.logLevel = .warning
        lane = SessionLane(number: 1, session: session, host: self, logger: logger,
                           window: 2 << 20, windowMaximum: nil, packetSize: 32768,
                           keepaliveInterval: keepaliveInterval, keepaliveCountMax: 3)
    }

    /// A forwarded connection whose client sends `upload` and whose server sends `download`; queued on the lane.
    @discardableResult
    func add(upload: [UInt8] = [], download: [UInt8] = [], bufferSize: Int = 256 << 10) -> Forward {
        let id = forwards.count + 1
        let forward = Forward(id: id, fd: -1, peer: "127.0.0.1", peerPort: 40000 + id, localPort: 2121,
                              target: ForwardTarget(host: "127.0.0.2", port: 30000 + id), filter: nil, bufferSize: bufferSize)
        forwards.append(forward)
        uploads[id] = upload
        downloads[id] = download
        fed[id] = 0
        delivered[id] = []
        lane.enqueueOpen(forward)
        return forward
    }

    func channel(_ forward: Forward) -> ScriptedChannel? { forward.channel as? ScriptedChannel }
    /// The channel that carried `forward` (kept after the lane dropped it).
    func serverSide(_ forward: Forward) -> ScriptedChannel? {
        session.channels.first { $0.port == forward.target.port }
    }

    var allDone: Bool { forwards.allSatisfy(\.isDone) }

    /// One pass of the loop. Returns the lane's progress.
    @discardableResult
    func pass() throws -> Bool {
        passes += 1
        for forward in forwards where !withheld.contains(forward.id) { feedClient(forward) }
        let progress = try lane.runCalls(now: Date(), openDeadline: 600)
        for forward in forwards where forward.wantsLocalWrite { flushToLocal(forward) }
        for forward in forwards { playServer(forward) }
        return progress
    }

    /// Passes until every forward is done (at most `limit`).
    func runUntilDone(limit: Int = 200_000) throws {
        while !allDone {
            guard passes < limit else { throw Stuck(passes: passes, states: forwards.map { "\($0.id): \($0.state)" }) }
            try pass()
        }
    }

    struct Stuck: Error, CustomStringConvertible {
        let passes: Int
        let states: [String]
        var description: String { "the lane made no end after \(passes) passes: \(states.joined(separator: ", "))" }
    }

    private func feedClient(_ forward: Forward) {
        let upload = uploads[forward.id]!
        var offset = fed[forward.id]!
        if forward.wantsLocalRead, offset < upload.count {
            let space = forward.toChannel.writable()
            let n = min(space.count, upload.count - offset, random.next(upTo: 48 << 10) + 1)
            upload[offset..<offset + n].withUnsafeBytes { space.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) }
            forward.toChannel.produced(n)
            offset += n
            fed[forward.id] = offset
        }
        // The client ends its side when all is sent; a client that only downloads, once it saw the end.
        let ends = upload.isEmpty ? forward.downstream == .localShutDown : offset == upload.count
        if ends, forward.isOpen, forward.upstream == .flowing { forward.handle(.localEnded) }
    }

    private func playServer(_ forward: Forward) {
        guard let channel = channel(forward) else { return }
        let download = downloads[forward.id]!
        if !served.contains(forward.id) {
            served.insert(forward.id)
            // A server that only receives ends after the client's EOF; one that sends ends after its data.
            channel.serverSends(download, end: !download.isEmpty)
        } else if download.isEmpty, channel.receivedEOF, !channel.isEOF {
            channel.serverSends([], end: true)
        }
    }

    // MARK: LaneHost

    func flushToLocal(_ forward: Forward) {
        guard !stalled.contains(forward.id) else { return }
        delivered[forward.id, default: []] += Array(forward.toLocal.readable)
        forward.toLocal.consumed(forward.toLocal.count)
        forward.refillToLocal()
    }

    func finish(_ forward: Forward) {
        forward.handle(.localClosed)
        finished.append(forward.id)
        forward.closeLocal()
    }

    func upload(_ forward: Forward) -> [UInt8] { uploads[forward.id]! }
    func download(_ forward: Forward) -> [UInt8] { downloads[forward.id]! }
}
