import Testing
@testable import FTPServerKit

/// MFMT's `YYYYMMDDHHMMSS` (UTC) → seconds since the epoch; anything else is refused.
@Suite struct TimestampParsingTests {
    @Test func utcTimestampsParse() {
        #expect(FileFacts.seconds(fromTimestamp: "20200102030405") == 1_577_934_245)
        #expect(FileFacts.seconds(fromTimestamp: "19700101000000") == 0)
        #expect(FileFacts.seconds(fromTimestamp: "20200102030405.999") == 1_577_934_245)
    }

    @Test(arguments: ["", "2020010203040", "202001020304055", "20201302030405", "20200132030405", "20200102250405",
                      "20200102036005", "2020-1-02030405", "２０２００１０２０３０４０５", "20200102030405x"])
    func malformedTimestampsAreRefused(_ text: String) {
        #expect(FileFacts.seconds(fromTimestamp: text) == nil)
    }

    @Test func theFormatRoundTrips() {
        let facts = FileFacts(kind: .file, size: 0, modified: 1_577_934_245, mode: 0o644)
        #expect(FileFacts.seconds(fromTimestamp: facts.timestamp) == 1_577_934_245)
    }
}
