import Foundation
import Logging
import Testing
@testable import ftptunnel
import TunnelCore

/// Issue 17: a transfer's positive final reply reaches the client only after its data arrived whole (pure: the gate,
/// the transfer reporter's tracker and a meter; no sockets).
@Suite struct TransferCompletionGateTests {
    /// A control conversation up to a started RETR, with the data meter its 150 belongs to.
    private final class Conversation {
        let reporter = TransferReporter(logger: Logger(label: "test"), activity: nil, connection: { 1 })
        var wakes = 0
        lazy var gate = TransferCompletionGate(wake: {}) { [reporter] in reporter.fromServer($0) }
        var meter: TransferMeter!
        /// Frames what the test sends and what the server answers, as the control connection's conversation does.
        private var framing = ControlConversation()

        /// Server bytes through the gate; the bytes it lets through.
        func feed(_ bytes: [UInt8], sessionLost: Bool = false, now: Date = Date()) -> [UInt8] {
            gate.feed(framing.replies(bytes), sessionLost: sessionLost, now: now).flatMap(\.raw)
        }

        func tick(now: Date) -> [UInt8]? { gate.tick(now: now).map { $0.flatMap(\.raw) } }

        func sent(_ bytes: [UInt8]) { reporter.sentToServer(framing.commands(bytes)) }

        init(verb: String = "RETR") {
            _ = feed(Array("220 ready\r\n".utf8))
            meter = reporter.dataEndpointOpened()
            sent(Array("\(verb) f\r\n".utf8))
            #expect(text(feed(Array("150 Opening (4 bytes).\r\n".utf8))) == "150 Opening (4 bytes).\r\n")
        }
    }

    private static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
    private func text(_ bytes: [UInt8]?) -> String? { bytes.map(Self.text) }

    @Test func a226WaitsForItsDataAndPassesOnceItArrivedWhole() {
        let talk = Conversation()
        let now = Date()
        #expect(talk.feed(Array("226 Done.\r\n200 NOOP ok\r\n".utf8), now: now).isEmpty)
        #expect(talk.gate.isHolding)
        #expect(talk.feed(Array("221 Bye.\r\n".utf8), now: now).isEmpty, "what follows waits behind it, in order")
        #expect(talk.tick(now: now) == nil, "nothing settled yet")
        talk.meter.deliveredWhole()
        #expect(text(talk.tick(now: now)) == "226 Done.\r\n200 NOOP ok\r\n221 Bye.\r\n")
        #expect(!talk.gate.isHolding)
    }

    @Test func a226WhoseDataDidNotArriveWholeBecomes426() {
        for verb in ["RETR", "STOR"] {
            let talk = Conversation(verb: verb)
            #expect(talk.feed(Array("226 Done.\r\n".utf8)).isEmpty)
            talk.meter.end()
            let released = text(talk.tick(now: Date())) ?? ""
            #expect(released.hasPrefix("426 "), "\(verb): \(released)")
            #expect(!released.contains("226"))
        }
    }

    @Test func aDataConnectionThatAlreadyFailedTurnsThe226At426AtOnce() {
        let talk = Conversation()
        talk.meter.end()
        let passed = Self.text(talk.feed(Array("226 Done.\r\n".utf8)))
        #expect(passed.hasPrefix("426 ") && !talk.gate.isHolding, "\(passed)")
    }

    @Test func aMultiLine226IsHeldAndReplacedWhole() {
        let talk = Conversation()
        var passed: [UInt8] = []
        for byte in Array("226-Transfer done.\r\n226-more\r\n226 end\r\n".utf8) { passed += talk.feed([byte]) }
        #expect(passed.isEmpty && talk.gate.isHolding, "drip-fed, not one byte of the reply passes early")
        talk.meter.end()
        let released = text(talk.tick(now: Date())) ?? ""
        #expect(released.hasPrefix("426 ") && released.hasSuffix("\r\n") && !released.contains("226"), "\(released)")
    }

    @Test func theHoldEndsWhenTheDataConnectionStalls() {
        let talk = Conversation()
        let start = Date()
        _ = talk.feed(Array("226 Done.\r\n".utf8), now: start)
        #expect(talk.gate.dueDate == start.addingTimeInterval(TransferCompletionGate.stallLimit))
        talk.meter.add(10)
        let later = start.addingTimeInterval(TransferCompletionGate.stallLimit - 1)
        #expect(talk.tick(now: later) == nil, "bytes moved: the deadline moves")
        #expect(talk.tick(now: start.addingTimeInterval(TransferCompletionGate.stallLimit + 1)) == nil)
        let released = text(talk.tick(now: later.addingTimeInterval(TransferCompletionGate.stallLimit))) ?? ""
        #expect(released.hasPrefix("426 "), "\(released)")
    }

    @Test func theKeepers426BecomesA226OnlyWhenTheAnnouncedBytesArrivedWhole() {
        let keeper426 = Array("426 Connection lost: the SSH session dropped during RETR.\r\n".utf8)
        for (moved, whole, expected) in [(4, true, "226 "), (3, true, "426 "), (4, false, "426 ")] {
            let talk = Conversation()
            #expect(talk.feed(keeper426, sessionLost: true).isEmpty && talk.gate.isHolding)
            talk.meter.add(moved)
            if whole { talk.meter.deliveredWhole() } else { talk.meter.end() }
            let released = text(talk.tick(now: Date())) ?? ""
            #expect(released.hasPrefix(expected), "\(moved) bytes, whole \(whole): \(released)")
        }
        let upload = Conversation(verb: "STOR")
        #expect(Self.text(upload.feed(keeper426, sessionLost: true)) == Self.text(keeper426), "an upload's 426 stays")
        let server = Conversation()
        #expect(Self.text(server.feed(keeper426)) == Self.text(keeper426), "the server's own 426 passes")
    }

    /// Whatever the server sends (multi-line replies, stray and overlong lines, a reply cut at the end), fed in any
    /// pieces: with no transfer to complete, every byte comes out unchanged and in order.
    @Test func withoutATransferEveryByteComesOutUnchangedWhateverTheSplit() {
        let hugeReply = "211-status\r\n" + String(repeating: " line of a long listing\r\n", count: 3000) + "211 end\r\n"
        let pieces = ["220 hi\r\n", "211-a\r\n x\r\n211 b\r\n", String(repeating: "x", count: 5000) + "\r\n", "junk\n",
                      "\r\n", "226 no transfer\r\n", "150 x\r\n", hugeReply, "550-a\r\n550 b\r\n", "2"]
        var seed: UInt64 = 0x1234_5678
        func next(_ bound: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(bound))
        }
        for _ in 0..<60 {
            let input = Array((0..<(1 + next(8))).map { _ in pieces[next(pieces.count)] }.joined().utf8)
            let gate = TransferCompletionGate(wake: {}) { _ in nil }
            var framing = ControlConversation()
            var output: [UInt8] = []
            var offset = 0
            while offset < input.count {
                let length = min(input.count - offset, 1 + next(700))
                output += gate.feed(framing.replies(input[offset..<(offset + length)])).flatMap(\.raw)
                offset += length
            }
            output += gate.flush().flatMap(\.raw) + (framing.repliesEnded()?.raw ?? [])
            #expect(output == input)
            #expect(!gate.isHolding)
        }
    }

    @Test func repliesThatEndNoDataTransferPass() {
        let talk = Conversation()
        talk.sent(Array("RETR missing\r\n".utf8))
        talk.meter.deliveredWhole()
        #expect(Self.text(talk.feed(Array("226 Done.\r\n550 No such file.\r\n211-a\r\n211 b\r\n".utf8)))
                == "226 Done.\r\n550 No such file.\r\n211-a\r\n211 b\r\n")
    }
}

/// When a data connection counts as delivered whole (and is closed with FIN rather than reset).
@Suite struct ForwardDeliveryTests {
    private static func forward() -> Forward {
        let forward = Forward(id: 1, fd: -1, peer: "127.0.0.1", peerPort: 5000, localPort: 2121,
                              target: ForwardTarget(host: "127.0.0.2", port: 21), filter: nil, bufferSize: 64)
        ForwardPaths.open(forward)
        forward.meter = TransferMeter()
        return forward
    }

    @Test func aDownloadIsWholeOnceTheChannelEndedAndTheClientGotEverything() {
        let forward = Self.forward()
        forward.bytesDown = 100
        forward.handle(.channelEOF)
        #expect(forward.readyForLocalShutdown)
        forward.handle(.localShutDown)
        forward.noteDelivery()
        #expect(forward.deliveredWhole && forward.meter?.settled == .whole)
    }

    @Test func aFailedChannelIsNeverShutCleanly() {
        let forward = Self.forward()
        forward.handle(.localFailed)
        forward.handle(.channelEOF)
        #expect(!forward.readyForLocalShutdown)
        forward.noteDelivery()
        #expect(!forward.deliveredWhole && forward.meter?.settled == nil)
        forward.meter?.end()
        #expect(forward.meter?.settled == .broken)
    }

    @Test func anUploadIsWholeOnlyWhenTheServerEndedAfterOurEOF() {
        let early = Self.forward()
        early.bytesUp = 100
        early.queueToChannel([1, 2, 3])
        early.handle(.channelEOF)          // the server's side ended with client bytes still on their way
        early.handle(.localShutDown)
        early.noteDelivery()
        #expect(!early.deliveredWhole)

        let ending = Self.forward()
        ending.handle(.localEnded)  // the client ended, our EOF not sent yet
        ending.handle(.channelEOF)
        ending.handle(.localShutDown)
        ending.noteDelivery()
        #expect(!ending.deliveredWhole)

        let upload = Self.forward()
        upload.bytesUp = 100
        upload.handle(.localEnded)
        upload.handle(.eofSent(failed: false))
        upload.noteDelivery()
        #expect(!upload.deliveredWhole, "EOF sent is not yet proof the server read it")
        upload.handle(.channelEOF)
        upload.handle(.localShutDown)
        upload.noteDelivery()
        #expect(upload.deliveredWhole)

        let failedEOF = Self.forward()
        failedEOF.bytesUp = 100
        failedEOF.handle(.localEnded)
        failedEOF.handle(.eofSent(failed: true))
        failedEOF.handle(.channelEOF)
        failedEOF.handle(.localShutDown)
        failedEOF.noteDelivery()
        #expect(!failedEOF.deliveredWhole)
    }
}
