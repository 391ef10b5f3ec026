import CLibSSH2
import Foundation
import Testing
@testable import ftptunnel
import TestSupport

/// The real `SessionLane` driven through its `SessionIO`/`ChannelIO` seam by a scripted session that plays libssh2's
/// half-sent packets, short writes, exhausted windows and channel failures (DESIGN 3.3: after EAGAIN with the
/// outbound direction blocked, the identical call is retried before any other call that sends).
@Suite struct SessionLaneSeamTests {
    /// Every half-sent call was followed by the identical call, and the scripted session saw nothing else first.
    static func expectRuleKept(_ session: ScriptedSession, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(session.violations.isEmpty, "\(session.violations.prefix(5))", sourceLocation: sourceLocation)
        let log = session.log
        for index in log.indices where log[index].step == .halfSent {
            guard index + 1 < log.count else { continue }
            #expect(log[index + 1].call == log[index].call,
                    "after the half-sent \(log[index].call) came \(log[index + 1].call)", sourceLocation: sourceLocation)
        }
    }

    @Test func theIdenticalWriteIsRetriedAfterEAGAINWithOutboundBlocked() throws {
        let rig = LaneRig(seed: 11)
        var random = SeededRandom(seed: 12)
        let data = random.bytes(300_000)
        let forward = rig.add(upload: data)
        rig.session.queue([.halfSent, .halfSent, .proceed, .proceed, .halfSent], .write, channel: 1)
        try rig.runUntilDone()

        let writes = rig.session.calls(.write, channel: 1)
        #expect(writes.count >= 6)
        #expect(writes[1] == writes[0] && writes[2] == writes[0], "two EAGAINs, then the same channel, address and length")
        #expect(writes[5] == writes[4])
        #expect(writes[3] != writes[2], "a completed write moves on")
        Self.expectRuleKept(rig.session)
        #expect(rig.lane.partialPacketRetries == 3)
        #expect(rig.serverSide(forward)?.received == data, "the server received the client's bytes exactly once, in order")
        #expect(rig.serverSide(forward)?.receivedEOF == true)
    }

    @Test func nothingElseSendsWhileAPacketIsHalfSent() throws {
        let rig = LaneRig(seed: 21)
        var random = SeededRandom(seed: 22)
        let upload = random.bytes(200_000)
        let uploader = rig.add(upload: upload)
        let downloader = rig.add(download: [])
        let ending = rig.add(upload: [])
        let failing = rig.add(upload: [])
        rig.withheld = [uploader.id, downloader.id, ending.id, failing.id]
        for _ in 0..<20 where !rig.forwards.allSatisfy({ $0.isOpen }) { try rig.pass() }
        #expect(rig.forwards.allSatisfy { $0.isOpen }, "the four channels opened one after the other")

        // At once: the uploader's write is half sent (four times), while the downloader has data to read, one
        // client ended (EOF due), one connection broke (close due) and a new connection waits for its open.
        rig.session.queue([.halfSent, .halfSent, .halfSent, .halfSent], .write, channel: 1)
        rig.withheld = [downloader.id, failing.id]
        try rig.pass()
        #expect(rig.session.isHoldingPacket)
        let download = random.bytes(150_000)
        rig.serverSide(downloader)!.serverSends(download, end: true)
        rig.withheld = []
        ending.handle(.localEnded)
        failing.handle(.localFailed)
        let late = rig.add(upload: random.bytes(50_000))
        let heldFrom = rig.session.log.count - 1
        var passesWhileHeld = 0
        while rig.session.isHoldingPacket {
            passesWhileHeld += 1
            try rig.pass()
        }
        let released = rig.session.log.indices.first { $0 > heldFrom && rig.session.log[$0].step != .halfSent }!
        #expect(passesWhileHeld == 4)
        let callsWhileHeld = rig.session.log[heldFrom...released].map(\.call)
        #expect(callsWhileHeld.allSatisfy { $0 == callsWhileHeld[0] },
                "only the half-sent write while it was pending: \(callsWhileHeld)")

        try rig.runUntilDone()
        Self.expectRuleKept(rig.session)
        let later = rig.session.log[(released + 1)...].map(\.call.kind)
        for kind: ScriptedSession.Call.Kind in [.read, .sendEOF, .close, .free, .open] {
            #expect(later.contains(kind), "\(kind) happened once the packet went out")
        }
        #expect(rig.serverSide(uploader)?.received == upload)
        #expect(rig.delivered[downloader.id] == download)
        #expect(rig.serverSide(late)?.received == rig.upload(late))
        #expect(rig.serverSide(failing)?.closed == true && rig.serverSide(failing)?.freed == true)
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func interleavedUploadsAndDownloadsLoseAndDuplicateNothing(seed: UInt64) throws {
        let rig = LaneRig(seed: seed)
        var random = SeededRandom(seed: seed &* 7919)
        for index in 0..<6 {
            let up = index % 3 != 1 ? random.bytes(100_000 + random.next(upTo: 700_000)) : []
            let down = index % 3 != 0 ? random.bytes(100_000 + random.next(upTo: 700_000)) : []
            rig.add(upload: up, download: down, bufferSize: [64 << 10, 256 << 10][index % 2])
        }
        var script = SeededRandom(seed: seed &+ 100)
        rig.session.decide = { call in
            let roll = script.next(upTo: 100)
            switch call.kind {
            case .write:
                if roll < 20 { return .halfSent }
                if roll < 35 { return .short(1 + script.next(upTo: 40_000)) }
                if roll < 42 { return .waitForServer }
                return .proceed
            case .read:
                if roll < 15 { return .halfSent }
                if roll < 22 { return .waitForServer }
                return .proceed
            case .open, .sendEOF, .drain, .close, .free, .grantWindow, .keepalive:
                if roll < 25 { return .halfSent }
                if roll < 35, call.kind == .open { return .waitForServer }
                return .proceed
            }
        }
        // Window exhaustion: the server grants send window in small adjusts, one per pass at most.
        var passes = 0
        while !rig.allDone {
            passes += 1
            guard passes < 400_000 else { Issue.record("no end after \(passes) passes"); return }
            for forward in rig.forwards {
                guard let channel = rig.channel(forward) else { continue }
                if channel.sendWindow == .max { channel.sendWindow = 48 << 10 }
                if script.next(upTo: 3) == 0 { channel.sendWindow += script.next(upTo: 64 << 10) }
            }
            try rig.pass()
        }
        Self.expectRuleKept(rig.session)
        #expect(rig.lane.partialPacketRetries > 20, "the script half-sent many packets")
        #expect(rig.session.log.contains { $0.call.kind == .write && $0.step == .waitForServer })
        for forward in rig.forwards {
            #expect(rig.serverSide(forward)?.received == rig.upload(forward), "forward \(forward.id): client → server byte stream")
            #expect(rig.delivered[forward.id] == rig.download(forward), "forward \(forward.id): server → client byte stream")
            #expect(rig.serverSide(forward)?.receivedEOF == true)
        }
    }

    @Test func shortWritesResumeAtTheRightOffset() throws {
        let rig = LaneRig(seed: 31)
        var random = SeededRandom(seed: 32)
        let data = random.bytes(100_000)
        let forward = rig.add(upload: data, bufferSize: 256 << 10)
        rig.withheld = [forward.id]
        try rig.pass()
        #expect(forward.isOpen)
        // All of the client's bytes at once, so the buffer does not move between the writes.
        let space = forward.toChannel.writable()
        data.withUnsafeBytes { space.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: data.count) }
        forward.toChannel.produced(data.count)
        forward.handle(.localEnded)
        rig.withheld = []
        rig.session.queue([.short(1000), .short(1), .halfSent, .short(5000)], .write, channel: 1)
        try rig.runUntilDone()

        let writes = rig.session.calls(.write, channel: 1)
        var offset = 0
        var expected: [(Int, Int)] = []
        for taken in [1000, 1, 0, 5000, 32768, 32768] {
            expected.append((offset, min(data.count - offset, SessionLane.maximumWrite)))
            offset += taken
        }
        let base = writes[0].address
        #expect(writes.prefix(6).map { (Int($0.address - base), $0.length) }.elementsEqual(expected, by: ==),
                "offsets and lengths offered: \(writes.prefix(6).map { (Int($0.address - base), $0.length) })")
        Self.expectRuleKept(rig.session)
        #expect(rig.serverSide(forward)?.received == data)
    }

    @Test func aFailedChannelEndsOnlyItsForward() throws {
        let rig = LaneRig(seed: 41)
        var random = SeededRandom(seed: 42)
        let doomed = rig.add(upload: random.bytes(400_000))
        let survivor = rig.add(upload: random.bytes(400_000), download: random.bytes(300_000))
        rig.session.queue([.proceed, .halfSent, .fail(LIBSSH2_ERROR_CHANNEL_CLOSED)], .write, channel: 1)
        try rig.runUntilDone()
        Self.expectRuleKept(rig.session)
        #expect(doomed.broken)
        #expect(rig.serverSide(doomed)!.received.count < rig.upload(doomed).count)
        #expect(rig.serverSide(doomed)?.freed == true, "the failed channel was closed and freed")
        #expect(rig.serverSide(survivor)?.received == rig.upload(survivor))
        #expect(rig.delivered[survivor.id] == rig.download(survivor))
        #expect(rig.finished.contains(doomed.id) && rig.finished.contains(survivor.id))
    }

    @Test func aSessionLevelFailureEndsTheSession() throws {
        let rig = LaneRig(seed: 51)
        rig.add(upload: SeededRandom(seed: 52).bytesArray(100_000))
        rig.session.queue([.fail(LIBSSH2_ERROR_SOCKET_SEND)], .write, channel: 1)
        #expect(throws: SSHError.self) { try rig.runUntilDone() }
    }

    /// ServerAlive: a probe that falls due while a write is half sent is not sent; a half-sent probe is itself
    /// retried before the writes that keep coming. Waits for ServerAlive's 2 s interval twice (its real clock).
    @Test func keepalivesWaitForTheHalfSentPacketAndAreRetriedThemselves() throws {
        let rig = LaneRig(seed: 61, keepaliveInterval: 2)
        let forward = rig.add(upload: SeededRandom(seed: 62).bytesArray(64 << 10))
        rig.withheld = [forward.id]
        try rig.pass()
        #expect(forward.isOpen)
        let due = ServerAliveMonitor.now + 2.2
        var releasing = false
        rig.session.decide = { call in
            guard call.kind == .write else { return .proceed }
            // First held half sent past the probe's due time; then out of window, so a write is tried every pass.
            return releasing ? .waitForServer : .halfSent
        }
        rig.withheld = []
        try Deadline.wait(for: "ServerAlive's first probe to fall due while the write is half sent", seconds: 10) {
            try rig.pass()
            return ServerAliveMonitor.now >= due
        }
        #expect(rig.session.calls(.keepalive).isEmpty, "no probe while a packet is half sent")
        releasing = true
        try rig.pass()
        #expect(!rig.session.isHoldingPacket)
        #expect(rig.session.calls(.keepalive).isEmpty, "the probe that fell due meanwhile counted as sent, not sent late")

        rig.session.queue([.halfSent], .keepalive)
        try Deadline.wait(for: "the half-sent probe to be retried", seconds: 10) {
            try rig.pass()
            return rig.session.calls(.keepalive).count >= 2
        }
        Self.expectRuleKept(rig.session)
        let kinds = rig.session.log.map(\.call.kind)
        let probe = kinds.firstIndex(of: .keepalive)!
        #expect(kinds[probe + 1] == .keepalive, "the retry came before the next write")
        #expect(rig.lane.probesSent == 1)
    }
}

/// A lane whose every channel waits for a stalled client still lets libssh2 take what arrives on the SSH socket
/// (`drainSession`, which reads no channel and grants no window), under the pending-send rule; a dead session shows
/// there as a session loss.
@Suite struct SessionLaneDrainTests {
    /// A download whose client reads nothing, run until the lane no longer reads its channel.
    private static func stalledDownload(_ rig: LaneRig) throws -> Forward {
        var random = SeededRandom(seed: 31)
        let forward = rig.add(download: random.bytes(600_000), bufferSize: 64 << 10)
        rig.stalled = [forward.id]
        try Deadline.wait(for: "the lane to stop reading the stalled channel", seconds: 10) {
            try rig.pass()
            return forward.isOpen && !forward.wantsChannelRead
        }
        return forward
    }

    @Test func unreadBytesBehindAStalledClientAreDrainedAndAHalfSentDrainIsRetriedFirst() throws {
        let rig = LaneRig(seed: 30)
        let forward = try Self.stalledDownload(rig)
        #expect(rig.session.calls(.drain).isEmpty, "nothing waits in the socket yet: no drain")
        #expect(rig.lane.pollEvents & Int16(POLLIN) != 0, "the socket stays watched while its channels are not read")

        rig.session.unreadBytes = 4096
        rig.session.queue([.halfSent], .drain, channel: 1)
        try rig.pass()
        try rig.pass()
        let drains = rig.session.calls(.drain, channel: 1)
        #expect(drains.count == 2 && drains[0] == drains[1], "the half-sent drain is retried: \(drains)")
        let last = try #require(rig.session.log.lastIndex { $0.call.kind == .drain })
        #expect(rig.session.log[(last - 1)...].allSatisfy { $0.call.kind == .drain }, "nothing else came between")
        #expect(rig.session.unreadBytes == 0)
        try rig.pass()
        #expect(rig.session.calls(.drain).count == 2, "an empty socket is not drained again")

        rig.stalled = []
        try rig.runUntilDone()
        #expect(rig.delivered[forward.id] == rig.download(forward), "every byte reached the client once, in order")
        SessionLaneSeamTests.expectRuleKept(rig.session)
    }

    @Test func aSessionThatEndsWhileDrainedIsLost() throws {
        let rig = LaneRig(seed: 32)
        _ = try Self.stalledDownload(rig)
        rig.session.unreadBytes = 100
        rig.session.queue([.fail(LIBSSH2_ERROR_SOCKET_DISCONNECT)], .drain, channel: 1)
        #expect(throws: SSHError.self) { try rig.pass() }
    }
}
