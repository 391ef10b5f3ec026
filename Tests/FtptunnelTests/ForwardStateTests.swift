import Foundation
import Testing
@testable import ftptunnel

/// The per-direction state machine of one forwarded connection (pure: no socket is read or written).
@Suite struct ForwardStateTests {
    private static func forward(filter: StreamFilter? = nil) -> Forward {
        Forward(id: 1, fd: -1, peer: "127.0.0.1", peerPort: 5000, localPort: 2121,
                target: ForwardTarget(host: "127.0.0.2", port: 21), filter: filter, bufferSize: 64)
    }

    @Test func nothingMovesBeforeTheChannelIsOpen() {
        for kind: ForwardPaths.Kind in [.queued, .opening, .closing, .suspended, .draining, .done] {
            let forward = ForwardPaths.forward(in: kind)
            #expect(!forward.wantsLocalRead && !forward.wantsChannelRead && !forward.readyForEOF, "\(kind)")
        }
        let forward = Self.forward()
        ForwardPaths.open(forward)
        #expect(forward.wantsLocalRead && forward.wantsChannelRead)
    }

    @Test func backpressureEachWay() {
        let forward = Self.forward()
        ForwardPaths.open(forward)
        forward.queueToChannel(Array(repeating: 1, count: 80))
        #expect(!forward.wantsLocalRead, "a full buffer toward the channel stops reading the client")
        #expect(!forward.wantsChannelRead, "overflow on either side stops both reads")
        forward.toChannel.consumed(64)
        forward.refillToChannel()
        #expect(forward.toChannel.count == 16)
        #expect(forward.wantsLocalRead && forward.wantsChannelRead)
        forward.queueToLocal(Array(repeating: 2, count: 100))
        #expect(!forward.wantsChannelRead && forward.wantsLocalWrite)
        forward.toLocal.consumed(64)
        forward.refillToLocal()
        #expect(forward.toLocal.count == 36)
        #expect(forward.wantsChannelRead)
    }

    /// Local EOF → flush → EOF to the channel; channel EOF → flush → shutdown; both → finished.
    @Test func halfClosesInEachDirectionThenFinishes() {
        let forward = Self.forward()
        ForwardPaths.open(forward)
        forward.queueToChannel([1, 2, 3])
        forward.handle(.localEnded)
        #expect(!forward.readyForEOF, "EOF waits for the buffered bytes")
        forward.toChannel.consumed(3)
        #expect(forward.readyForEOF)
        forward.handle(.eofSent(failed: false))
        #expect(!forward.isFinished)
        forward.queueToLocal([9])
        forward.handle(.channelEOF)
        #expect(forward.downstream == .channelEnded && !forward.readyForLocalShutdown)
        forward.toLocal.consumed(1)
        #expect(forward.readyForLocalShutdown)
        forward.handle(.localShutDown)
        #expect(forward.isFinished)
    }

    @Test func aLostChannelVoidsWhatWasQueuedForIt() {
        let forward = ForwardPaths.forward(in: .open, filter: ForwardPaths.ResumableFilter())
        forward.queueToChannel(Array(repeating: 7, count: 80))
        forward.toChannel.pinned = true
        #expect(forward.handle(.sessionLost(now: Date(), mayResume: true)) == .suspend)
        #expect(forward.toChannel.isEmpty && !forward.toChannel.pinned && forward.channel == nil)
        ForwardPaths.open(forward)
        #expect(forward.wantsLocalRead)
    }

    @Test func brokenStopsEverythingButFinishes() {
        let forward = Self.forward()
        ForwardPaths.open(forward)
        forward.queueToLocal([1])
        forward.handle(.localFailed)
        #expect(!forward.wantsLocalRead && !forward.wantsLocalWrite && !forward.wantsChannelRead)
        #expect(forward.isFinished)
    }
}
