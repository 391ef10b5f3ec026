import Testing
@testable import FTPCore

@Suite struct LineFramerTests {
    let input = Array("USER a\r\nPASS b\nNOOP\r\n".utf8)
    let expected: [LineFramer.Event] = [.line(Array("USER a".utf8)), .line(Array("PASS b".utf8)), .line(Array("NOOP".utf8))]

    @Test func wholeBufferAndDripFeedAgree() {
        var whole = LineFramer()
        #expect(whole.feed(input) == expected)
        var drip = LineFramer()
        #expect(input.flatMap { drip.feed([$0]) } == expected)
    }

    @Test(arguments: 0...21) func everySplitPointGivesTheSameLines(split: Int) {
        var framer = LineFramer()
        #expect(framer.feed(input[..<split]) + framer.feed(input[split...]) == expected)
    }

    @Test func overlongLineIsDiscardedAndTheNextLineSurvives() {
        var framer = LineFramer(maximumLineLength: 10)
        let events = framer.feed(Array(String(repeating: "A", count: 5000).utf8) + Array("\r\nNOOP\r\n".utf8))
        #expect(events == [.overlong(length: 5001), .line(Array("NOOP".utf8))])
    }
}

@Suite struct FTPCommandLineTests {
    @Test func splitsVerbAndArgument() {
        #expect(FTPCommandLine(line: Array("retr my file.txt".utf8)) == FTPCommandLine(verb: "RETR", argument: "my file.txt"))
        #expect(FTPCommandLine(line: Array("PWD".utf8)) == FTPCommandLine(verb: "PWD"))
        #expect(FTPCommandLine(line: [0xFF, 0xF4, 0xFF, 0xF2] + Array("ABOR".utf8))?.verb == "ABOR")
    }

    @Test func recognisesHTTPRequestLines() {
        #expect(FTPCommandLine.isHTTPRequestLine(Array("GET / HTTP/1.1".utf8)))
        #expect(FTPCommandLine.isHTTPRequestLine(Array("POST /x HTTP/1.0".utf8)))
        #expect(!FTPCommandLine.isHTTPRequestLine(Array("RETR HTTP/1.1".utf8)))
        #expect(!FTPCommandLine.isHTTPRequestLine(Array("SIZE / HTTP".utf8)))
    }

    @Test(arguments: ["", "AB", "ABCDE x", "R3TR x", " USER x"])
    func rejectsWhatIsNotAnFTPVerb(_ line: String) {
        #expect(FTPCommandLine(line: Array(line.utf8)) == nil)
    }
}

@Suite struct PassiveEndpointTests {
    @Test func formatsAndParsesPASV() throws {
        let endpoint = PassiveEndpoint(host: "127.0.0.1", port: 40001)
        #expect(endpoint.passiveReply() == "227 Entering Passive Mode (127,0,0,1,156,65).")
        #expect(endpoint.portArgument() == "127,0,0,1,156,65")
        #expect(PassiveEndpoint.parseSixNumbers("127,0,0,1,156,65") == endpoint)
        #expect(PassiveEndpoint.parseSixNumbers("127, 0, 0, 1, 156, 65") == endpoint)
    }

    @Test(arguments: ["127,0,0,1,156", "256,0,0,1,1,1", "1,2,3,4,0,0", "a,b,c,d,e,f", "1,2,3,4,5,6,7", "1,2,3,4,5,-6"])
    func rejectsBadSixNumbers(_ text: String) {
        #expect(PassiveEndpoint.parseSixNumbers(Substring(text)) == nil)
    }

    @Test func parsesEPRTAndEPSV() {
        #expect(PassiveEndpoint.parseExtendedPort("|1|127.0.0.1|6275|")?.endpoint == PassiveEndpoint(host: "127.0.0.1", port: 6275))
        #expect(PassiveEndpoint.parseExtendedPort("|2|::1|6275|")?.family == 2)
        #expect(PassiveEndpoint.parseExtendedPort("|3|x|1|") == nil)
        #expect(PassiveEndpoint.parseExtendedPort("|1|1.2.3|1|") == nil)
        #expect(PassiveEndpoint.parseExtendedPassive("Entering Extended Passive Mode (|||6446|)") == PassiveEndpoint(host: nil, port: 6446))
        #expect(PassiveEndpoint.parseExtendedPassive("ok (!!!6446!)")?.port == 6446)
        #expect(PassiveEndpoint.parseExtendedPassive("(|||0|)") == nil)
        #expect(PassiveEndpoint(host: nil, port: 6446).extendedPassiveReply() == "229 Entering Extended Passive Mode (|||6446|)")
    }
}
