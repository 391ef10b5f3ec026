import Testing
@testable import FTPCore

@Suite struct RawLineSplitterTests {
    let input = Array("220 ready\r\n211-Status\n 227 Entering Passive Mode (1,2,3,4,5,6)\r\n211 End\r\n".utf8)

    @Test func keepsTerminatorsAndBytes() {
        var splitter = RawLineSplitter()
        let events = splitter.feed(input)
        #expect(events == [
            .line(Array("220 ready\r\n".utf8)),
            .line(Array("211-Status\n".utf8)),
            .line(Array(" 227 Entering Passive Mode (1,2,3,4,5,6)\r\n".utf8)),
            .line(Array("211 End\r\n".utf8)),
        ])
    }

    @Test func everySplitGivesTheSameEvents() {
        var whole = RawLineSplitter()
        let expected = whole.feed(input)
        for split in 0...input.count {
            var splitter = RawLineSplitter()
            #expect(splitter.feed(input[..<split]) + splitter.feed(input[split...]) == expected, "split at \(split)")
        }
        var drip = RawLineSplitter()
        #expect(input.flatMap { drip.feed([$0]) } == expected)
    }

    @Test func overlongLinePassesInPiecesWithoutLoss() {
        let long = Array(String(repeating: "x", count: 30).utf8) + [13, 10] + Array("ok\r\n".utf8)
        for chunk in [1, 3, 7, 100] {
            var splitter = RawLineSplitter(maximumLineLength: 10)
            var events: [RawLineSplitter.Event] = []
            var index = 0
            while index < long.count {
                events += splitter.feed(long[index..<min(index + chunk, long.count)])
                index += chunk
            }
            guard case .overlongStart(let start)? = events.first else {
                Issue.record("no overlong start with chunk \(chunk)")
                continue
            }
            #expect(start.count == 10)
            var rebuilt = start
            for event in events.dropFirst() {
                switch event {
                case .overlongRest(let bytes, _), .line(let bytes): rebuilt += bytes
                case .overlongStart: Issue.record("second overlong start")
                }
            }
            #expect(rebuilt == long)
            #expect(events.last == .line(Array("ok\r\n".utf8)))
            let endings = events.filter { if case .overlongRest(_, true) = $0 { return true } else { return false } }
            #expect(endings.count == 1)
        }
    }

    @Test func lineJustUnderTheCapIsALine() {
        var splitter = RawLineSplitter(maximumLineLength: 10)
        #expect(splitter.feed(Array("123456789\n".utf8)) == [.line(Array("123456789\n".utf8))])
        #expect(splitter.feed(Array("1234567890\n".utf8)) == [.overlongStart(Array("1234567890".utf8)), .overlongRest([10], ended: true)])
    }

    @Test func pendingBytesAreReturnedAtTheEnd() {
        var splitter = RawLineSplitter()
        #expect(splitter.feed(Array("220 partial".utf8)).isEmpty)
        #expect(splitter.takePending() == Array("220 partial".utf8))
        #expect(splitter.pendingBytes.isEmpty)
    }
}

@Suite struct ReplyParserTests {
    func roles(_ lines: [String]) -> [ReplyParser.LineRole] {
        var parser = ReplyParser()
        return lines.map { parser.classify(Array($0.utf8)) }
    }

    @Test func singleAndMultilineReplies() {
        #expect(roles(["220 ready", "200", "211-Features:", " EPSV", " EPRT", "211 End"]) ==
                [.single(code: 220), .single(code: 200), .first(code: 211), .continuation, .continuation, .last(code: 211)])
    }

    @Test func linesInsideAMultilineReplyThatLookLikeRepliesAreText() {
        #expect(roles(["211-Status of server", "227 Entering Passive Mode (1,2,3,4,5,6).", "229 (|||6446|)",
                       "211-still going", "211 End of status"]) ==
                [.first(code: 211), .continuation, .continuation, .continuation, .last(code: 211)])
    }

    @Test func aBareCodeEndsAReply() {
        #expect(roles(["211-start", "211", "200"]) == [.first(code: 211), .last(code: 211), .single(code: 200)])
        #expect(parsedReply(["200"])?.text == "")
    }

    @Test func strayLinesOutsideReplies() {
        #expect(roles(["hello", "2000 x", "600 x", "22 x", "220x"]) == [.stray, .stray, .stray, .stray, .stray])
    }

    @Test func collectsReplies() throws {
        let reply = try #require(parsedReply(["214-The following commands are recognized.", " ABOR ACCT", "214 Help OK."]))
        #expect(reply.code == 214)
        #expect(reply.lines.count == 3)
        #expect(reply.text == "The following commands are recognized.  ABOR ACCT Help OK.")
        #expect(!reply.isPreliminary)
        #expect(parsedReply(["150 Opening"])?.isPreliminary == true)
        #expect(parsedReply(["214-The following commands are recognized.", " ABOR ACCT"]) == nil)
    }
}
