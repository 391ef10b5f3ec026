import Foundation
import Logging
import Testing
@testable import FTPCore
@testable import ProgramSupport
@testable import TunnelCore

/// The transfer lines' source: commands and replies paired in order, whole and drip-fed byte by byte.
@Suite struct TransferTrackerTests {
    typealias Transfer = TransferTracker.Transfer

    /// A session script: what is sent to the server and what it answers, each fed whole or byte by byte.
    static func run(_ steps: [(sent: String, replies: String)], dripFed: Bool) -> [TransferTracker.Event] {
        var tracker = TransferTracker()
        var conversation = ControlConversation()
        var events: [TransferTracker.Event] = []
        for step in steps {
            let sent = Array(step.sent.utf8), replies = Array(step.replies.utf8)
            if dripFed {
                for byte in sent { tracker.sentToServer(conversation.commands([byte])) }
                for byte in replies { events += tracker.fromServer(conversation.replies([byte])) }
            } else {
                tracker.sentToServer(conversation.commands(sent))
                events += tracker.fromServer(conversation.replies(replies))
            }
        }
        return events
    }

    /// Whole lines framed as the connection's conversation frames them.
    static func commands(_ text: String) -> [ControlConversation.Unit] {
        var conversation = ControlConversation()
        return conversation.commands(Array(text.utf8))
    }

    static func replies(_ text: String) -> [ControlConversation.Unit] {
        var conversation = ControlConversation()
        return conversation.replies(Array(text.utf8))
    }

    static func expectSame(_ steps: [(sent: String, replies: String)], _ expected: [TransferTracker.Event]) {
        #expect(run(steps, dripFed: false) == expected)
        #expect(run(steps, dripFed: true) == expected)
    }

    @Test func downloadWithSizeAndAnnouncedBytes() {
        let retr = Transfer(verb: "RETR", path: "/pub/big.bin", expectedBytes: 1048576)
        Self.expectSame([
            ("", "220 (vsFTPd 3.0.3)\r\n"),
            ("USER anonymous\r\nPASS x\r\n", "331 Please specify the password.\r\n230 Login successful.\r\n"),
            ("SIZE /pub/big.bin\r\n", "213 1048576\r\n"),
            ("EPSV\r\nRETR /pub/big.bin\r\n", "229 Entering Extended Passive Mode (|||40001|)\r\n150 Opening BINARY mode data connection for /pub/big.bin (1048576 bytes).\r\n"),
            ("", "226 Transfer complete.\r\n"),
        ], [.started(retr), .finished(retr, code: 226, text: "Transfer complete.")])
    }

    @Test func sizeFromTheMarkerOnlyAndARestOffset() {
        let retr = Transfer(verb: "RETR", path: "f", expectedBytes: 600, offset: 400)
        Self.expectSame([
            ("", "220 hi\r\n"),
            ("SIZE f\r\nREST 400\r\nPASV\r\nRETR f\r\n", "213 1000\r\n350 Restarting at 400.\r\n227 Entering Passive Mode (127,0,0,1,1,2).\r\n150 Here it comes.\r\n226 Done.\r\n"),
        ], [.started(retr), .finished(retr, code: 226, text: "Done.")])
    }

    @Test func uploadsListingsAndFailures() {
        let stor = Transfer(verb: "STOR", path: "upload/x.bin")
        let list = Transfer(verb: "LIST", path: "")
        let missing = Transfer(verb: "RETR", path: "missing.bin")
        let cut = Transfer(verb: "APPE", path: "log.txt")
        Self.expectSame([
            ("", "220-Welcome\r\n220-to the server\r\n220 ready\r\n"),
            ("PASV\r\nSTOR upload/x.bin\r\n", "227 (127,0,0,1,1,2)\r\n150 Ok to send data.\r\n226 Transfer complete.\r\n"),
            ("PASV\r\nLIST\r\n", "227 (127,0,0,1,1,2)\r\n150 Here comes the directory listing.\r\n226 Directory send OK.\r\n"),
            ("RETR missing.bin\r\n", "550 Failed to open file.\r\n"),
            ("PASV\r\nAPPE log.txt\r\n", "227 (127,0,0,1,1,2)\r\n150 Ok.\r\n426-Connection closed;\r\n426 transfer aborted.\r\n"),
        ], [
            .started(stor), .finished(stor, code: 226, text: "Transfer complete."),
            .started(list), .finished(list, code: 226, text: "Directory send OK."),
            .finished(missing, code: 550, text: "Failed to open file."),
            .started(cut), .finished(cut, code: 426, text: "Connection closed;"),
        ])
    }

    @Test func pipelinedCommandsPairInOrderAndRepliesInsideStatAreText() {
        let nlst = Transfer(verb: "NLST", path: "-a")
        Self.expectSame([
            ("", "220 hi\r\n"),
            ("STAT\r\nEPSV\r\nNLST -a\r\nNOOP\r\n",
             "211-Status:\r\n150 not a reply here\r\n226 nor this\r\n211 End\r\n229 (|||40001|)\r\n150 Opening.\r\n226 Done.\r\n200 NOOP ok.\r\n"),
        ], [.started(nlst), .finished(nlst, code: 226, text: "Done.")])
    }

    @Test func controlCharactersNeverReachTheLine() {
        var tracker = TransferTracker()
        _ = tracker.fromServer(Self.replies("220 hi\r\n"))
        tracker.sentToServer(Self.commands("RETR a\u{1B}[31mb\r\n"))
        let events = tracker.fromServer(Self.replies("550 no\u{7}pe\r\n"))
        #expect(events == [.finished(Transfer(verb: "RETR", path: "a[31mb"), code: 550, text: "nope")])
    }

    @Test func tooManyUnansweredCommandsStopTheFollowing() {
        var tracker = TransferTracker()
        for _ in 0...TransferTracker.maximumOutstanding { tracker.sentToServer(Self.commands("NOOP\r\n")) }
        #expect(tracker.gaveUp)
        #expect(tracker.fromServer(Self.replies("220 hi\r\n150 x\r\n226 y\r\n")).isEmpty)
    }

    @Test func byteCountsForPeople() {
        #expect(ByteCount.format(512) == "512 B")
        #expect(ByteCount.format(1 << 30) == "1.0 GiB")
        #expect(ByteCount.format(12_582_912) == "12.0 MiB")
        #expect(ByteCount.rate(bytes: 1 << 30, seconds: 4.1) == "262 MB/s")
        #expect(ByteCount.rate(bytes: 50_000, seconds: 1) == "50.0 kB/s")
        #expect(ByteCount.duration(4.14) == "4.1 s")
        #expect(ByteCount.duration(125) == "2 min 5 s")
    }

    /// The transfer line ftptunnel's rewrite mode and pasvd both print.
    @Test func transferLinesForPeople() {
        #expect(TransferLine.completed("RETR f", bytes: 1 << 30, seconds: 4.1) == "RETR f 1.0 GiB 4.1 s 262 MB/s")
        #expect(TransferLine.failed("STOR g", moved: (12_582_912, 2.0), reason: "451 Local error")
                == "STOR g failed after 12.0 MiB, 2.0 s: 451 Local error")
        #expect(TransferLine.failed("RETR h", moved: nil, reason: "550 No such file") == "RETR h failed: 550 No such file")
    }

    @Test func terminalLinesArePlainAtTheDefaultLevel() {
        let time = Date(timeIntervalSince1970: 0)
        #expect(TerminalLogHandler.line(label: "ftptunnel", level: .notice, message: "RETR f 1.0 GiB 4.1 s 262 MB/s",
                                        metadata: ["conn": "3"], detailed: false, time: time)
                == "ftptunnel: RETR f 1.0 GiB 4.1 s 262 MB/s\n")
        #expect(TerminalLogHandler.line(label: "ftptunnel", level: .warning, message: "x", metadata: [:], detailed: false, time: time)
                == "ftptunnel: warning: x\n")
        let detailed = TerminalLogHandler.line(label: "ftptunnel", level: .info, message: "channel open",
                                               metadata: ["port": "2121", "conn": "3"], detailed: true, time: time)
        #expect(detailed.hasPrefix("ftptunnel: "))
        #expect(detailed.hasSuffix(" info: channel open (conn=3 port=2121)\n"), "\(detailed)")
        #expect(!detailed.contains("[ftptunnel]"))
    }
}
