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
        let forward = Self.forward()
        for state: Forward.ChannelState in [.queued, .opening(since: Date(), abandoned: false), .closing,
                                            .suspended(since: Date()), .draining, .done] {
            forward.state = state
            #expect(!forward.wantsLocalRead && !forward.wantsChannelRead && !forward.readyForEOF)
        }
        forward.state = .open
        #expect(forward.wantsLocalRead && forward.wantsChannelRead)
    }

    @Test func backpressureEachWay() {
        let forward = Self.forward()
        forward.state = .open
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
        forward.state = .open
        forward.queueToChannel([1, 2, 3])
        forward.upstream = .localEnded
        #expect(!forward.readyForEOF, "EOF waits for the buffered bytes")
        forward.toChannel.consumed(3)
        #expect(forward.readyForEOF)
        forward.upstream = .eofSent
        #expect(!forward.isFinished)
        forward.queueToLocal([9])
        forward.channelEnded()
        #expect(forward.downstream == .channelEnded && !forward.readyForLocalShutdown)
        forward.toLocal.consumed(1)
        #expect(forward.readyForLocalShutdown)
        forward.downstream = .localShutDown
        #expect(forward.isFinished)
    }

    @Test func aLostChannelVoidsWhatWasQueuedForIt() {
        let forward = Self.forward()
        forward.state = .open
        forward.queueToChannel(Array(repeating: 7, count: 80))
        forward.toChannel.pinned = true
        forward.channelLost()
        #expect(forward.toChannel.isEmpty && !forward.toChannel.pinned && forward.channel == nil)
        forward.state = .open
        #expect(forward.wantsLocalRead)
    }

    @Test func brokenStopsEverythingButFinishes() {
        let forward = Self.forward()
        forward.state = .open
        forward.queueToLocal([1])
        forward.broken = true
        #expect(!forward.wantsLocalRead && !forward.wantsLocalWrite && !forward.wantsChannelRead)
        #expect(forward.isFinished)
    }
}
