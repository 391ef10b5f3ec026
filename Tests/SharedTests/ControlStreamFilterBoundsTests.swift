import Testing
@testable import Shared

/// Every queue of the filter has a bound: past it the filter asks the loop to stop reading the client.
@Suite struct ControlStreamFilterBoundsTests {
    private static func filter(maximumHeldBytes: Int = 4096, maximumOutstandingCommands: Int = 16) -> ControlStreamFilter {
        ControlStreamFilter(.init(ftpHost: "10.1.2.3", maximumHeldBytes: maximumHeldBytes,
                                  maximumOutstandingCommands: maximumOutstandingCommands))
    }

    /// The flood that grew the tunnel to a gigabyte: locally answered commands behind a pending reply.
    @Test func localAnswersBehindAPendingReplyStopTheClient() {
        var filter = Self.filter()
        _ = filter.serverBytes(Array("220 hi\r\n".utf8))
        _ = filter.clientBytes(Array("RETR f\r\n".utf8))
        var lines = 0
        while filter.wantsClientBytes, lines < 100_000 {
            _ = filter.clientBytes(Array("AUTH TLS\r\n".utf8))
            lines += 1
        }
        #expect(!filter.wantsClientBytes, "still reading after \(lines) AUTH lines")
        #expect(lines < 200, "\(lines) local replies were queued before the client was throttled")
        // The server answers: the queued replies go out and the client is read again.
        let actions = filter.serverBytes(Array("226 done\r\n".utf8))
        let sent = actions.compactMap { action -> [UInt8]? in
            if case .sendToClient(let bytes) = action { return bytes }
            return nil
        }.joined()
        let text = String(decoding: Array(sent), as: UTF8.self)
        #expect(text.hasPrefix("226 done\r\n"))
        #expect(text.components(separatedBy: "\r\n").filter { $0.hasPrefix("534") }.count == lines)
        #expect(filter.wantsClientBytes)
    }

    @Test func pipelinedCommandsAwaitingRepliesAreBounded() {
        var filter = Self.filter(maximumOutstandingCommands: 16)
        _ = filter.serverBytes(Array("220 hi\r\n".utf8))
        var sent = 0
        while filter.wantsClientBytes, sent < 1000 {
            _ = filter.clientBytes(Array("NOOP\r\n".utf8))
            sent += 1
        }
        #expect(sent == 16)
        _ = filter.serverBytes(Array("200 ok\r\n".utf8))
        #expect(filter.wantsClientBytes)
    }
}
