import Testing
@testable import TunnelCore

/// State one command leaves for a later one (REST's offset, RNFR's source) across a lost SSH session: replayed on
/// the new server connection, or refused, never silently reset. Every scenario runs whole, drip-fed byte by byte
/// and split at every offset (`KeeperHarness.verify`).
@Suite struct ControlSessionKeeperStateTests {
    typealias Step = KeeperHarness.Step

    /// Logged in, binary, in /pub.
    static let login: [Step] = [
        .replies("220 hi"), .command("USER alice"), .replies("331 pw"), .command("PASS s3cret"), .replies("230 ok"),
        .command("TYPE I"), .replies("200 binary"), .command("CWD /pub"), .replies("250 ok"),
    ]
    static let loginReplay = "USER alice\r\nPASS s3cret\r\nTYPE I\r\nCWD /pub\r\n"
    /// The new server's answers to the login replay.
    static let rebuilt = ["220 new", "331 pw", "230 ok", "200 binary", "250 ok"]

    static func occurrences(_ needle: String, in text: String) -> Int { text.components(separatedBy: needle).count - 1 }

    @Test(arguments: ["STOR r.bin", "RETR r.bin", "APPE r.bin"])
    func aRestAnsweredBeforeTheDropIsReplayedForTheTransfer(_ transfer: String) {
        let t = KeeperHarness.verify(Self.login + [
            .command("REST 50"), .replies("350 Restarting at 50"),
            .drop, .reconnect, .server(Self.rebuilt + ["350 Restarting at 50"]),
            .command(transfer), .replies("150 ok", "226 done"),
        ])
        #expect(t.server.hasSuffix("REST 50\r\n" + Self.loginReplay + "REST 50\r\n\(transfer)\r\n"), "\(t)")
        #expect(t.filterLines == ["220 hi", "331 pw", "230 ok", "200 binary", "250 ok", "350 Restarting at 50", "150 ok", "226 done"], "\(t)")
        #expect(t.failures.isEmpty && t.resumed == 1 && t.phase == .live)
        #expect(t.memory.restartOffset == nil, "the transfer used the offset up")
    }

    @Test func aRefusedRestReplayEndsTheSessionRatherThanStartAtZero() {
        let t = KeeperHarness.verify(Self.login + [
            .command("REST 50"), .replies("350 Restarting at 50"),
            .drop, .reconnect, .server(Self.rebuilt + ["502 REST not implemented"]),
            .command("STOR r.bin"),
        ])
        #expect(t.phase == .failed)
        #expect(t.failures.count == 1 && t.failures[0].contains("REST 50") && t.failures[0].contains("502"), "\(t)")
        #expect(!t.server.contains("STOR"), "the upload never reaches the server: \(t)")
    }

    @Test func aTransferLostWithTheSessionUsesUpTheRestBeforeIt() {
        let t = KeeperHarness.verify(Self.login + [
            .command("REST 50"), .replies("350 Restarting at 50"), .command("STOR r.bin"), .replies("150 ok"),
            .drop, .reconnect, .server(Self.rebuilt), .command("STOR other.bin"),
        ])
        #expect(t.filterLines.contains { $0.hasPrefix("426 ") && $0.contains("STOR") }, "\(t)")
        #expect(t.server.hasSuffix(Self.loginReplay + "STOR other.bin\r\n"), "no REST before the unrelated upload: \(t)")
        #expect(Self.occurrences("REST", in: t.server) == 1)
        #expect(t.memory.restartOffset == nil)
    }

    @Test func aTransferRefusedByTheServerStillUsesUpTheRest() {
        let t = KeeperHarness.verify(Self.login + [
            .command("REST 50"), .replies("350 Restarting at 50"), .command("STOR r.bin"), .replies("553 denied"),
            .drop, .reconnect, .server(Self.rebuilt),
        ])
        #expect(!t.replay.contains("REST") && t.phase == .live, "\(t)")
    }

    @Test func aRestInFlightAloneIsResentAfterTheReplay() {
        let t = KeeperHarness.verify(Self.login + [
            .command("REST 50"), .drop, .reconnect, .server(Self.rebuilt + ["350 Restarting at 50"]),
        ])
        #expect(t.server.hasSuffix(Self.loginReplay + "REST 50\r\n"), "\(t)")
        #expect(t.filterLines.last == "350 Restarting at 50")
        #expect(t.memory.restartOffset == "50" && t.phase == .live)
    }

    /// Resent with its transfer answered 426, the REST would stay set for the client's next, unrelated upload.
    @Test func aRestInFlightWithItsTransferIsRefusedNotResent() {
        let t = KeeperHarness.verify(Self.login + [
            .command("REST 50"), .command("STOR r.bin"), .drop, .reconnect, .server(Self.rebuilt),
            .command("STOR plain.bin"),
        ])
        let answers = Array(t.filterLines.suffix(2))
        #expect(answers.count == 2 && answers[0].hasPrefix("451 ") && answers[0].contains("send REST again"), "\(t)")
        #expect(answers.count == 2 && answers[1].hasPrefix("426 "), "\(t)")
        #expect(t.server.hasSuffix(Self.loginReplay + "STOR plain.bin\r\n"), "\(t)")
        #expect(t.memory.restartOffset == nil)
    }

    @Test func aRestInFlightBeforeAPassiveRequestIsRefusedAndThePassiveRequestResent() {
        let t = KeeperHarness.verify(Self.login + [
            .command("REST 50"), .command("PASV"), .drop, .reconnect,
            .server(Self.rebuilt + ["227 Entering Passive Mode (127,0,0,1,156,64)"]),
        ])
        #expect(t.server.hasSuffix(Self.loginReplay + "PASV\r\n"), "\(t)")
        #expect(t.filterLines.suffix(2).first?.hasPrefix("451 ") == true, "\(t)")
        #expect(t.filterLines.last == "227 Entering Passive Mode (127,0,0,1,156,64)")
        #expect(t.memory.restartOffset == nil)
    }

    @Test func aRestLeftPendingSurvivesASecondDropDuringTheReplay() {
        let t = KeeperHarness.verify(Self.login + [
            .command("REST 50"), .replies("350 Restarting at 50"),
            .drop, .reconnect, .replies("220 new", "331 pw"),
            .drop, .reconnect, .server(Self.rebuilt + ["350 Restarting at 50"]), .command("RETR r.bin"),
        ])
        #expect(t.server.hasSuffix(Self.loginReplay + "REST 50\r\nRETR r.bin\r\n"), "\(t)")
        #expect(t.phase == .live && t.failures.isEmpty)
    }

    @Test func aPassivePortIsNotReplayed() {
        let t = KeeperHarness.verify(Self.login + [
            .command("PASV"), .replies("227 Entering Passive Mode (127,0,0,1,156,64)"),
            .drop, .reconnect, .server(Self.rebuilt), .command("RETR r.bin"),
        ])
        #expect(t.server.hasSuffix(Self.loginReplay + "RETR r.bin\r\n"), "the server answers the RETR 425 itself: \(t)")
    }

    @Test func anRnfrAnsweredBeforeTheDropIsReplayedLastForTheRnto() {
        let t = KeeperHarness.verify(Self.login + [
            .command("RNFR a.txt"), .replies("350 Ready for RNTO"),
            .drop, .reconnect, .server(Self.rebuilt + ["350 Ready for RNTO"]),
            .command("RNTO b.txt"), .replies("250 renamed"),
        ])
        #expect(t.server.hasSuffix(Self.loginReplay + "RNFR a.txt\r\nRNTO b.txt\r\n"), "\(t)")
        #expect(t.filterLines.suffix(2) == ["350 Ready for RNTO", "250 renamed"], "\(t)")
        #expect(t.memory.renameSource == nil && t.failures.isEmpty)
    }

    /// The source vanished meanwhile: the RNTO goes out without it and the server refuses it.
    @Test func aRefusedRnfrReplayIsDroppedAndTheServerRefusesTheRnto() {
        let t = KeeperHarness.verify(Self.login + [
            .command("RNFR a.txt"), .replies("350 Ready for RNTO"),
            .drop, .reconnect, .server(Self.rebuilt + ["550 a.txt: no such file"]),
            .command("RNTO b.txt"), .replies("503 Send RNFR first"),
        ])
        #expect(t.failures.isEmpty && t.phase == .live, "\(t)")
        #expect(t.server.hasSuffix("RNFR a.txt\r\nRNTO b.txt\r\n"), "\(t)")
        #expect(t.filterLines.last == "503 Send RNFR first")
        #expect(!t.filter.contains("550"), "the replay's reply is swallowed")
    }

    @Test func aRenameSourceEndsAtTheNextCommand() {
        let t = KeeperHarness.verify(Self.login + [
            .command("RNFR a.txt"), .replies("350 Ready for RNTO"), .command("NOOP"), .replies("200 ok"),
            .drop, .reconnect, .server(Self.rebuilt), .command("RNTO b.txt"),
        ])
        #expect(t.server.hasSuffix(Self.loginReplay + "RNTO b.txt\r\n"), "\(t)")
    }

    @Test func anRntoLostWithTheSessionGets451AndNoRnfrIsReplayed() {
        let t = KeeperHarness.verify(Self.login + [
            .command("RNFR a.txt"), .replies("350 Ready for RNTO"), .command("RNTO b.txt"),
            .drop, .reconnect, .server(Self.rebuilt), .command("RNTO c.txt"),
        ])
        #expect(t.filterLines.contains { $0.hasPrefix("451 ") && $0.contains("RNTO") }, "\(t)")
        #expect(t.server.hasSuffix(Self.loginReplay + "RNTO c.txt\r\n"), "\(t)")
    }

    @Test func anRnfrInFlightAloneIsResent() {
        let t = KeeperHarness.verify(Self.login + [
            .command("RNFR a.txt"), .drop, .reconnect, .server(Self.rebuilt + ["350 Ready for RNTO"]),
            .command("RNTO b.txt"),
        ])
        #expect(t.server.hasSuffix(Self.loginReplay + "RNFR a.txt\r\nRNTO b.txt\r\n"), "\(t)")
        #expect(t.filterLines.last == "350 Ready for RNTO")
    }

    @Test func anRnfrAndItsRntoBothInFlightAreAnswered451() {
        let t = KeeperHarness.verify(Self.login + [
            .command("RNFR a.txt"), .command("RNTO b.txt"), .drop, .reconnect, .server(Self.rebuilt),
        ])
        let answers = Array(t.filterLines.suffix(2))
        #expect(answers.count == 2 && answers[0].hasPrefix("451 ") && answers[0].contains("RNFR"), "\(t)")
        #expect(answers.count == 2 && answers[1].hasPrefix("451 ") && answers[1].contains("RNTO"), "\(t)")
        #expect(t.server.hasSuffix(Self.loginReplay), "nothing resent: \(t)")
    }

    @Test func restThenRnfrAreReplayedInThatOrderAndRnfrThenRestKeepsOnlyTheRest() {
        let both = KeeperHarness.verify(Self.login + [
            .command("REST 50"), .replies("350 Restarting"), .command("RNFR a.txt"), .replies("350 Ready"), .drop,
        ])
        #expect(both.replay == Self.loginReplay + "REST 50\r\nRNFR a.txt\r\n")
        let restLast = KeeperHarness.verify(Self.login + [
            .command("RNFR a.txt"), .replies("350 Ready"), .command("REST 50"), .replies("350 Restarting"), .drop,
        ])
        #expect(restLast.replay == Self.loginReplay + "REST 50\r\n")
    }

    @Test func aNewLoginForgetsPendingState() {
        for reset in [["USER bob", "331 pw"], ["REIN", "220 ready"]] {
            let t = KeeperHarness.verify(Self.login + [
                .command("REST 50"), .replies("350 Restarting"), .command("RNFR a.txt"), .replies("350 Ready"),
                .command(reset[0]), .replies(reset[1]),
            ])
            #expect(t.memory.restartOffset == nil && t.memory.renameSource == nil, "\(reset)")
        }
    }

    /// `isQuiet` (a planned session replacement would go unnoticed) only while live with nothing half-said either
    /// way and no command awaiting its reply, fed byte by byte.
    @Test func quietOnlyWhenNoCommandAwaitsItsReplyAndNoLineIsCut() {
        var keeper = FramedKeeper()
        func feedServer(_ text: String) { for byte in Array(text.utf8) { _ = keeper.fromServer([byte]) } }
        func feedCommand(_ text: String) { for byte in Array(text.utf8) { _ = keeper.sentToServer([byte]) } }
        #expect(keeper.isQuiet, "nothing said yet")
        feedServer("220 hi\r")
        #expect(!keeper.isQuiet, "a reply line is cut")
        feedServer("\n")
        #expect(keeper.isQuiet)
        feedCommand("NOOP")
        #expect(!keeper.isQuiet, "a command line is cut")
        feedCommand("\r\n")
        #expect(!keeper.isQuiet, "NOOP awaits its reply")
        feedServer("211-status\r\n")
        #expect(!keeper.isQuiet, "a multi-line reply is open")
        feedServer("211 end\r\n")
        #expect(keeper.isQuiet)
        _ = keeper.sessionLost()
        #expect(!keeper.isQuiet, "suspended")
        keeper.serverReconnected()
        feedServer("220 new\r\n")
        #expect(keeper.isQuiet, "resumed: nothing was replayed, nothing in flight")
    }

    @Test func aRefusedRestKeepsTheEarlierOffset() {
        let t = KeeperHarness.verify(Self.login + [
            .command("REST 50"), .replies("350 Restarting"), .command("REST x"), .replies("501 bad offset"),
        ])
        #expect(t.memory.restartOffset == "50")
    }
}
