import Testing
@testable import TunnelCore

/// Every queue of the filter has a bound: past it the filter asks the loop to stop reading the client.
@Suite struct ControlStreamFilterBoundsTests {
    private static func filter(maximumHeldBytes: Int = 4096, maximumOutstandingCommands: Int = 16) -> ControlStreamFilter {
        ControlStreamFilter(.init(ftpHost: "10.1.2.3", maximumHeldBytes: maximumHeldBytes,
                                  maximumOutstandingCommands: maximumOutstandingCommands))
    }

    /// Whole lines framed as the loop's conversation frames them.
    private static func commands(_ text: String) -> [ControlConversation.Unit] {
        var conversation = ControlConversation()
        return conversation.commands(Array(text.utf8))
    }

    private static func replies(_ text: String) -> [ControlConversation.Unit] {
        var conversation = ControlConversation()
        return conversation.replies(Array(text.utf8))
    }

    /// The flood that grew the tunnel to a gigabyte: locally answered commands behind a pending reply.
    @Test func localAnswersBehindAPendingReplyStopTheClient() {
        var filter = Self.filter()
        _ = filter.serverUnits(Self.replies("220 hi\r\n"))
        _ = filter.clientUnits(Self.commands("RETR f\r\n"))
        var lines = 0
        while filter.wantsClientBytes, lines < 100_000 {
            _ = filter.clientUnits(Self.commands("AUTH TLS\r\n"))
            lines += 1
        }
        #expect(!filter.wantsClientBytes, "still reading after \(lines) AUTH lines")
        #expect(lines < 200, "\(lines) local replies were queued before the client was throttled")
        // The server answers: the queued replies go out and the client is read again.
        let actions = filter.serverUnits(Self.replies("226 done\r\n"))
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
        _ = filter.serverUnits(Self.replies("220 hi\r\n"))
        var sent = 0
        while filter.wantsClientBytes, sent < 1000 {
            _ = filter.clientUnits(Self.commands("NOOP\r\n"))
            sent += 1
        }
        #expect(sent == 16)
        _ = filter.serverUnits(Self.replies("200 ok\r\n"))
        #expect(filter.wantsClientBytes)
    }
}

/// `-vv` traces: every command and reply, PASS masked, the tunnel's own answers and rewrites marked.
@Suite struct ControlStreamFilterTraceTests {
    @Test func tracesCommandsRepliesAndTheTunnelsOwnWork() {
        var harness = FilterHarness(.init(ftpHost: "10.1.2.3", traces: true))
        harness.run([.server("220 hi\r\n"), .client("USER bob\r\nPASS secret\r\nAUTH TLS\r\nPASV\r\n"),
                     .server("331 pw\r\n230 ok\r\n227 Entering Passive Mode (10,1,2,3,156,64).\r\n")])
        let logs = harness.transcript.logs.joined(separator: "\n")
        #expect(logs.contains("client: USER bob"))
        #expect(logs.contains("client: PASS ****"))
        #expect(!logs.contains("secret"))
        #expect(logs.contains("tunnel answered: 534"))
        #expect(logs.contains("server: 227 Entering Passive Mode (10,1,2,3,156,64). (rewritten for the client)"))
        #expect(logs.contains("tunnel rewrote the reply to: 227"))
        #expect(logs.contains("server: 230 ok"))
    }

    @Test func noTracesUnlessAsked() {
        var harness = FilterHarness()
        harness.run([.server("220 hi\r\n"), .client("USER bob\r\n"), .server("331 pw\r\n")])
        #expect(!harness.transcript.logs.contains { $0.contains("client:") || $0.contains("server:") })
    }
}
