import Testing
import FTPCore
import TunnelCore

@Suite struct ControlConversationTests {
    typealias Unit = ControlConversation.Unit

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// A STAT reply whose inner lines look like replies, a bare-LF line, a preliminary and a final reply.
    static let replies = bytes("220 ready\r\n211-Status of server\r\n 227 Entering Passive Mode (1,2,3,4,5,6)\r\n227 also text\n211 End of status\r\n150 Opening\r\n226 Done\n")

    @Test func repliesAreFramedAndClassifiedPerRFC959() {
        var conversation = ControlConversation()
        let units = conversation.replies(Self.replies)
        #expect(units.map(\.raw) == [
            "220 ready\r\n", "211-Status of server\r\n", " 227 Entering Passive Mode (1,2,3,4,5,6)\r\n", "227 also text\n",
            "211 End of status\r\n", "150 Opening\r\n", "226 Done\n",
        ].map(Self.bytes))
        #expect(units.map(\.role) == [
            .single(code: 220), .first(code: 211), .continuation, .continuation, .last(code: 211), .single(code: 150),
            .single(code: 226),
        ])
        #expect(units.map(\.finalReplyCode) == [220, nil, nil, nil, 211, nil, 226])
        #expect(units.allSatisfy { $0.piece == .line })
        #expect(units[3].content == Self.bytes("227 also text")[...], "a bare LF is a terminator and not content")
        #expect(conversation.isBetweenReplies)
    }

    @Test func everySplitOfEitherStreamGivesTheSameUnits() {
        let commands = Self.bytes("USER anonymous\r\nPASS x\nEPSV\r\nRETR /f\r\n")
        var whole = ControlConversation()
        let expectedReplies = whole.replies(Self.replies)
        let expectedCommands = whole.commands(commands)
        for split in 0...Self.replies.count {
            var conversation = ControlConversation()
            let units = conversation.replies(Self.replies[..<split]) + conversation.replies(Self.replies[split...])
            #expect(units == expectedReplies, "reply split at \(split)")
        }
        for split in 0...commands.count {
            var conversation = ControlConversation()
            #expect(conversation.commands(commands[..<split]) + conversation.commands(commands[split...]) == expectedCommands,
                    "command split at \(split)")
        }
        var drip = ControlConversation()
        #expect(Self.replies.flatMap { drip.replies([$0]) } == expectedReplies)
        #expect(commands.flatMap { drip.commands([$0]) } == expectedCommands)
        #expect(expectedCommands.map(\.command) == [
            FTPCommandLine(verb: "USER", argument: "anonymous"), FTPCommandLine(verb: "PASS", argument: "x"),
            FTPCommandLine(verb: "EPSV"), FTPCommandLine(verb: "RETR", argument: "/f"),
        ])
    }

    @Test func partialLinesWaitAndComeOutAtTheEnd() {
        var conversation = ControlConversation()
        #expect(conversation.replies(Self.bytes("211-Feat")).isEmpty)
        #expect(!conversation.isBetweenReplies)
        #expect(conversation.replies(Self.bytes("ures:\r\n")).map(\.role) == [.first(code: 211)])
        #expect(conversation.openReplyCode == 211)
        #expect(conversation.commands(Self.bytes("NOOP")).isEmpty)
        #expect(conversation.commandsEnded() == Unit(raw: Self.bytes("NOOP"), piece: .unterminated))
        #expect(conversation.commandsEnded() == nil)
        #expect(conversation.replies(Self.bytes(" MDTM")).isEmpty)
        #expect(conversation.repliesEnded() == Unit(raw: Self.bytes(" MDTM"), piece: .unterminated))
        #expect(conversation.repliesEnded() == nil)
    }

    @Test func overlongLinesPassInPiecesWithoutLossAndKeepTheirRole() {
        let long = Self.bytes("150-" + String(repeating: "x", count: 40) + "\r\n150 end\r\n226 ok\r\n")
        for chunk in [1, 3, 7, 100] {
            var conversation = ControlConversation(maximumLineLength: 16)
            var units: [Unit] = []
            var index = 0
            while index < long.count {
                units += conversation.replies(long[index..<min(index + chunk, long.count)])
                index += chunk
            }
            #expect(units.flatMap(\.raw) == long, "chunk \(chunk): every byte once, in order")
            #expect(units.first?.piece == .overlongStart)
            #expect(units.first?.raw.count == 16)
            #expect(units.first?.role == .first(code: 150))
            let rest = units.filter { if case .overlongRest = $0.piece { return true } else { return false } }
            #expect(rest.allSatisfy { $0.role == nil })
            #expect(rest.last?.piece == .overlongRest(ended: true))
            #expect(units.suffix(2).map(\.role) == [.last(code: 150), .single(code: 226)], "chunk \(chunk)")
        }
        var commands = ControlConversation(maximumLineLength: 16)
        let pieces = commands.commands(Self.bytes("STOR " + String(repeating: "y", count: 30) + "\r\nNOOP\r\n"))
        #expect(pieces.map(\.piece) == [.overlongStart, .overlongRest(ended: true), .line])
        #expect(pieces[0].command == nil, "a piece of a line is never read as a command")
        #expect(pieces[2].command == FTPCommandLine(verb: "NOOP"))
    }

    @Test func telnetAbortSequenceStaysInTheBytesAndTheVerbIsRead() {
        let abort: [UInt8] = [0xFF, 0xF4, 0xFF, 0xF2] + Self.bytes("ABOR\r\n")
        for split in 0...abort.count {
            var conversation = ControlConversation()
            let units = conversation.commands(abort[..<split]) + conversation.commands(abort[split...])
            #expect(units == [Unit(raw: abort, piece: .line)], "split at \(split)")
            #expect(units.first?.command == FTPCommandLine(verb: "ABOR"))
        }
        var conversation = ControlConversation()
        let reply: [UInt8] = [0xFF, 0xF2] + Self.bytes("226 aborted\r\n")
        #expect(conversation.replies(reply).map(\.role) == [.stray], "IAC before a reply code is not a reply")
    }

    @Test func cuttingRepliesCompletesTheLineClosesTheReplyAndStartsAfresh() {
        var conversation = ControlConversation()
        _ = conversation.replies(Self.bytes("211-Features:\r\n MDTM\r\n SI"))
        let cut = conversation.cutReplies(closing: "(cut)")
        #expect(cut.map(\.raw) == [Self.bytes(" SI\r\n"), Self.bytes("211 (cut)\r\n")])
        #expect(cut.map(\.role) == [.continuation, .last(code: 211)])
        #expect(conversation.isBetweenReplies)
        #expect(conversation.replies(Self.bytes("220 new\r\n")).map(\.role) == [.single(code: 220)])
        #expect(conversation.cutReplies(closing: "(cut)").isEmpty, "between replies nothing needs completing")
        var plain = ControlConversation()
        _ = plain.replies(Self.bytes("213 12"))
        #expect(plain.cutReplies(closing: "(cut)") == [Unit(raw: Self.bytes("213 12\r\n"), piece: .line, role: .single(code: 213))])
    }

    @Test func madeRepliesAreClassifiedAlone() {
        #expect(Unit.reply(Self.bytes("426 aborted")) == Unit(raw: Self.bytes("426 aborted\r\n"), piece: .line, role: .single(code: 426)))
        #expect(Unit.command(Self.bytes("PASV\r\n")).command == FTPCommandLine(verb: "PASV"))
    }
}
