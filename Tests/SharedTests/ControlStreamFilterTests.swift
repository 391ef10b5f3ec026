import Testing
import TestSupport
@testable import FTPCore
@testable import TunnelCore

private let ftpHost = "10.1.2.3"
private typealias Action = ControlStreamFilter.Action

private func target(_ port: Int, host: String = ftpHost) -> PassiveEndpoint { PassiveEndpoint(host: host, port: port) }

/// The rewritten 227 for listener `id` of a harness (port `50000 + id`).
private func local227(_ id: Int) -> String {
    PassiveEndpoint(host: "127.0.0.1", port: 50000 + id).passiveReply()! + "\r\n"
}

private func local229(_ id: Int) -> String {
    PassiveEndpoint(host: nil, port: 50000 + id).extendedPassiveReply() + "\r\n"
}

@Suite struct ControlStreamFilterPassThroughTests {
    @Test func ordinarySessionPassesByteForByte() {
        let server = "220 (vsFTPd 3.0.3)\r\n331 Please specify the password.\r\n230 Login successful.\r\n"
            + "211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n AUTH TLS\r\n211 End\r\n"
            + "257 \"/\" is the current directory\r\n200 Switching to Binary mode.\r\n213 12345\r\n221 Goodbye.\r\n"
        let client = "USER anonymous\r\nPASS x\r\nFEAT\r\nPWD\r\nTYPE I\r\nSIZE f\r\nQUIT\r\n"
        var harness = FilterHarness()
        harness.run([.client(client), .server(server)])
        #expect(harness.transcript.server == client)
        #expect(harness.transcript.client == server)
        #expect(harness.transcript.control.isEmpty)
        #expect(!harness.filter.hasHeldOutput)
    }

    @Test func bareLFAndOddLinesPassUnchanged() {
        let server = "220 hi\n200-multi\nno code here\n  200 indented\n200 done\n\r\nstray text\r\n500 bad\n"
        var harness = FilterHarness()
        harness.run([.client("NOOP\nSYST\r\n"), .server(server)])
        #expect(harness.transcript.client == server)
        #expect(harness.transcript.server == "NOOP\nSYST\r\n")
    }

    /// STAT and HELP output may contain lines that look like passive replies: they are text, never rewritten.
    @Test(arguments: [
        "211-FTP server status:\r\n227 Entering Passive Mode (10,9,8,7,156,65).\r\n229 Entering Extended Passive Mode (|||6446|)\r\n211 End of status\r\n",
        "214-Commands:\r\n227-Entering Passive Mode (10,9,8,7,156,65)\r\n227 Entering Passive Mode (10,9,8,7,156,65)\r\n214 Help OK.\r\n",
        "213-Status follows:\r\n-rw-r--r-- 1 0 0 227 Jan 01 227 Entering Passive Mode (1,2,3,4,5,6)\r\n213 End of status\r\n",
    ])
    func passiveLookingLinesInsideOtherRepliesAreText(_ reply: String) {
        var harness = FilterHarness()
        harness.run([.server("220 ready\r\n"), .client("STAT\r\n"), .server(reply)])
        #expect(harness.transcript.client == "220 ready\r\n" + reply)
        #expect(harness.transcript.control.isEmpty)
    }

    @Test func feedRepliesPassUnchangedWithAuthAdvertised() {
        let feat = "211-Extensions supported:\r\n AUTH TLS\r\n PBSZ\r\n PROT\r\n EPSV\r\n EPRT\r\n211 END\r\n"
        var harness = FilterHarness()
        harness.run([.server("220 ProFTPD\r\n"), .client("FEAT\r\n"), .server(feat)])
        #expect(harness.transcript.client == "220 ProFTPD\r\n" + feat)
    }

    @Test func emptyCommandLinesAreDropped() {
        var harness = FilterHarness()
        harness.run([.client("\r\n  \r\nNOOP\r\n\n")])
        #expect(harness.transcript.server == "NOOP\r\n")
    }

    @Test func garbageWithoutPassiveCodesPassesExactly() {
        // An alphabet without 7 and 9 can never form a 227/229 code, so the output must equal the input.
        let alphabet = Array("0123456801 -\r\n\r\nabcXYZ|(),.".utf8) + [0, 0xFF, 0xC3, 0x28, 0x80]
        var generator = SeededRandom(seed: 42)
        for round in 0..<20 {
            let length = Int(generator.next() % 3000)
            let bytes = (0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            var whole = FilterHarness(.init(ftpHost: ftpHost, maximumLineLength: 64))
            whole.run([.serverRaw(bytes)])
            whole.serverEnded()
            #expect(whole.transcript.toClient == bytes, "round \(round)")
            var drip = FilterHarness(.init(ftpHost: ftpHost, maximumLineLength: 64))
            drip.run([.serverRaw(bytes)], chunking: .dripFeed)
            drip.serverEnded()
            #expect(drip.transcript.toClient == bytes, "round \(round)")
        }
    }

    @Test func megabytesOfControlTrafficPassUnchanged() {
        var generator = SeededRandom(seed: 7)
        var server = Array("220 ready\r\n211-Status follows\r\n".utf8)
        while server.count < 4 << 20 {
            let length = Int(generator.next() % 200)
            server += Array(" line ".utf8) + Array(repeating: UInt8(ascii: "a") + UInt8(length % 26), count: length) + [13, 10]
        }
        server += Array("211 End\r\n".utf8)
        var harness = FilterHarness()
        harness.run([.client("STAT\r\n")])
        var index = 0
        let readSize = 65536
        while index < server.count {
            harness.feedServer(Array(server[index..<min(index + readSize, server.count)]))
            index += readSize
        }
        #expect(harness.transcript.toClient == server)
    }

    @Test func overlongServerLinesPassRawInsideAndOutsideReplies() {
        let long = String(repeating: "x", count: 200)
        let server = "220 ok\r\n211-status\r\n \(long)\r\n211 \(long)\r\n\(long)\n200 after\r\n"
        var harness = FilterHarness(.init(ftpHost: ftpHost, maximumLineLength: 64))
        harness.run([.client("STAT\r\nNOOP\r\n"), .server(server)])
        #expect(harness.transcript.client == server)
        // The over-long "211 …" closed the multi-line reply: the next 227 is a reply again.
        harness.run([.client("PASV\r\n"), .server("227 Entering Passive Mode (1,2,3,4,5,6).\r\n")])
        #expect(harness.transcript.client == server + local227(1))
    }

    @Test func overlongClientLinesPassRawUnlessTheFilterOwnsTheVerb() {
        let long = String(repeating: "a", count: 300)
        var harness = FilterHarness(.init(ftpHost: ftpHost, maximumLineLength: 64))
        harness.run([.server("220 ok\r\n"), .client("STOR \(long)\r\nPORT 127,0,0,1,\(long)\r\nNOOP\r\n")])
        #expect(harness.transcript.server == "STOR \(long)\r\nNOOP\r\n")
        harness.run([.server("500 too long\r\n200 NOOP ok\r\n")])
        // The refusal of the PORT line comes after the STOR reply, before NOOP's.
        #expect(harness.transcript.client == "220 ok\r\n500 too long\r\n500 Command line too long.\r\n200 NOOP ok\r\n")
    }

    @Test func unfinishedLinesAtEndOfStreamAreFlushed() {
        var harness = FilterHarness()
        harness.run([.server("220 ok\r\n421 bye"), .client("QUIT")])
        #expect(harness.transcript.client == "220 ok\r\n")
        harness.serverEnded()
        harness.clientEnded()
        #expect(harness.transcript.client == "220 ok\r\n421 bye")
        #expect(harness.transcript.server == "QUIT")
    }

    @Test func unfinishedPortAtEndOfStreamIsNotForwarded() {
        var harness = FilterHarness()
        harness.run([.client("PORT 10,0,0,1,4,1")])
        harness.clientEnded()
        #expect(harness.transcript.server.isEmpty)
    }
}

@Suite struct ControlStreamFilterPassiveTests {
    @Test(arguments: PassiveReplyParserTests.passiveVariants)
    func every227VariantBecomesOneCanonicalLine(_ variant: PassiveReplyParserTests.Variant) {
        let steps: [FilterHarness.Step] = [.server("220 ready\r\n"), .client("PASV\r\n"), .server(variant.reply + "\r\n"),
                                           .client("RETR f\r\n"), .server("150 ok\r\n226 done\r\n")]
        let (transcript, failures) = FilterHarness.verifySplitIndependence(steps)
        #expect(failures.isEmpty, "\(failures.first ?? "")")
        #expect(transcript.client == "220 ready\r\n" + local227(1) + "150 ok\r\n226 done\r\n")
        #expect(transcript.server == "PASV\r\nRETR f\r\n")
        #expect(transcript.control == [.openPassiveListener(1, target: target(variant.port), family: .ipv4)])
    }

    @Test func serverPolicyTrustsTheAdvertisedAddressExceptZero() {
        var harness = FilterHarness(.init(ftpHost: ftpHost, passiveHost: .server))
        harness.run([.client("PASV\r\n"), .server("227 Entering Passive Mode (192,168,7,8,156,65).\r\n"),
                     .client("PASV\r\n"), .server("227 Entering Passive Mode (0,0,0,0,156,66).\r\n")])
        #expect(harness.transcript.control == [
            .openPassiveListener(1, target: target(40001, host: "192.168.7.8"), family: .ipv4),
            .releaseData(1),
            .openPassiveListener(2, target: target(40002), family: .ipv4),
        ])
    }

    @Test func multiline227BecomesOneLine() {
        var harness = FilterHarness()
        harness.run([.client("PASV\r\n"), .server("227-Entering Passive Mode\r\n227-(10,0,0,1,156,65)\r\n227 OK\r\n")])
        #expect(harness.transcript.client == local227(1))
        #expect(harness.transcript.control == [.openPassiveListener(1, target: target(40001), family: .ipv4)])
    }

    @Test(arguments: [
        "229 Entering Extended Passive Mode (|||6446|)",
        "229 Entering Extended Passive Mode (|||6446|).",
        "229 Extended Passive mode OK (!!!6446!)",
        "229-Entering Extended Passive Mode\r\n229 (|||6446|)",
    ])
    func epsvRepliesAreRewritten(_ reply: String) {
        let steps: [FilterHarness.Step] = [.client("EPSV\r\n"), .server(reply + "\r\n")]
        let (transcript, failures) = FilterHarness.verifySplitIndependence(steps)
        #expect(failures.isEmpty, "\(failures.first ?? "")")
        #expect(transcript.client == local229(1))
        #expect(transcript.control == [.openPassiveListener(1, target: target(6446), family: .ipv4)])
    }

    @Test func ipv6ClientsGet229WithAnIPv6Listener() {
        var harness = FilterHarness(.init(ftpHost: ftpHost, clientFamily: .ipv6))
        harness.run([.server("220 ok\r\n"), .client("EPSV\r\n"), .server("229 Entering Extended Passive Mode (|||6446|)\r\n"),
                     .client("PASV\r\n"), .server("227 Entering Passive Mode (1,2,3,4,156,65)\r\n")])
        #expect(harness.transcript.client == "220 ok\r\n" + local229(1) + local227(2))
        #expect(harness.transcript.control == [
            .openPassiveListener(1, target: target(6446), family: .ipv6),
            .releaseData(1),
            .openPassiveListener(2, target: target(40001), family: .ipv4),
        ])
    }

    @Test(arguments: [500, 501, 502, 522])
    func ipv6ClientsGet229EvenWhenTheServerRejectsEPSV(_ code: Int) {
        let steps: [FilterHarness.Step] = [.server("220 ok\r\n"), .client("EPSV\r\nAUTH TLS\r\n"),
                                           .server("\(code) EPSV not understood\r\n"),
                                           .server("227 Entering Passive Mode (192,168,1,2,156,65).\r\n")]
        let (transcript, failures) = FilterHarness.verifySplitIndependence(steps, configuration: .init(ftpHost: ftpHost, clientFamily: .ipv6))
        #expect(failures.isEmpty, "\(failures.first ?? "")")
        #expect(transcript.server == "EPSV\r\nPASV\r\n")
        #expect(transcript.client == "220 ok\r\n" + local229(1) + FilterReply.authRefused + "\r\n")
        #expect(transcript.control == [.openPassiveListener(1, target: target(40001), family: .ipv6)])
    }

    /// A client that said EPSV ALL may not fall back to PASV itself: against a server without EPSV (Twisted), the
    /// tunnel asks with PASV and answers 229; once the rejection is known, later EPSVs go out as PASV at once.
    @Test(arguments: [500, 502])
    func epsvAllClientsGet229FromAServerWithoutEPSV(_ code: Int) {
        let steps: [FilterHarness.Step] = [.server("220 ok\r\n"), .client("EPSV ALL\r\nEPSV\r\n"),
                                           .server("\(code) EPSV not understood\r\n"),
                                           .server("227 Entering Passive Mode (192,168,1,2,156,65).\r\n"),
                                           .client("EPSV\r\n"), .server("227 Entering Passive Mode (192,168,1,2,156,66).\r\n")]
        let (transcript, failures) = FilterHarness.verifySplitIndependence(steps)
        #expect(failures.isEmpty, "\(failures.first ?? "")")
        #expect(transcript.server == "EPSV\r\nPASV\r\nPASV\r\n")
        #expect(transcript.client == "220 ok\r\n" + FilterReply.epsvAllAccepted + "\r\n" + local229(1) + local229(2))
    }

    @Test func ipv6EPSVFallbackFailingPassesTheErrorOnce() {
        var harness = FilterHarness(.init(ftpHost: ftpHost, clientFamily: .ipv6))
        harness.run([.server("220 ok\r\n"), .client("EPSV\r\n"), .server("500 EPSV?\r\n"), .server("502 PASV?\r\n")])
        #expect(harness.transcript.server == "EPSV\r\nPASV\r\n")
        #expect(harness.transcript.client == "220 ok\r\n502 PASV?\r\n")
    }

    @Test func ipv6EPSVRejectionWithPipelinedCommandsPassesThrough() {
        var harness = FilterHarness(.init(ftpHost: ftpHost, clientFamily: .ipv6))
        harness.run([.server("220 ok\r\n"), .client("EPSV\r\nNOOP\r\n"), .server("500 EPSV?\r\n200 ok\r\n")])
        #expect(harness.transcript.server == "EPSV\r\nNOOP\r\n")
        #expect(harness.transcript.client == "220 ok\r\n500 EPSV?\r\n200 ok\r\n")
    }

    @Test func ipv4ClientsSeeTheEPSVRejection() {
        var harness = FilterHarness()
        harness.run([.server("220 ok\r\n"), .client("EPSV\r\n"), .server("500 EPSV?\r\n")])
        #expect(harness.transcript.server == "EPSV\r\n")
        #expect(harness.transcript.client == "220 ok\r\n500 EPSV?\r\n")
    }

    @Test func epsvWithAFamilyIsSentPlainAndTheListenerFollowsTheFamily() {
        var harness = FilterHarness()
        harness.run([.server("220 ok\r\n"), .client("EPSV 2\r\n"), .server("229 (|||6446|)\r\n"), .client("EPSV 1\r\n"), .server("229 (|||6447|)\r\n"),
                     .client("EPSV 3\r\n")])
        #expect(harness.transcript.server == "EPSV\r\nEPSV\r\n")
        #expect(harness.transcript.client == "220 ok\r\n" + local229(1) + local229(2) + "522 Network protocol not supported, use (1,2)\r\n")
        #expect(harness.transcript.control == [
            .openPassiveListener(1, target: target(6446), family: .ipv6),
            .releaseData(1),
            .openPassiveListener(2, target: target(6447), family: .ipv4),
        ])
    }

    @Test func theReplyStyleFollowsTheClientsCommand() {
        // A server answering EPSV with 227: the client asked for EPSV and gets 229.
        var harness = FilterHarness()
        harness.run([.server("220 ok\r\n"), .client("EPSV\r\n"), .server("227 Entering Passive Mode (1,2,3,4,156,65)\r\n")])
        #expect(harness.transcript.client == "220 ok\r\n" + local229(1))
        #expect(harness.transcript.control == [.openPassiveListener(1, target: target(40001), family: .ipv4)])
    }

    @Test func passiveRepliesAreRewrittenEvenWithoutAMatchingCommand() {
        var harness = FilterHarness()
        harness.run([.server("220 ok\r\n227 Entering Passive Mode (1,2,3,4,156,65).\r\n229 Entering Extended Passive Mode (|||6446|)\r\n")])
        #expect(harness.transcript.client == "220 ok\r\n" + local227(1) + local229(2))
        #expect(harness.transcript.control.count == 3)
    }

    @Test(arguments: [
        "227 Entering Passive Mode",
        "227 Entering Passive Mode (10,0,0,1,0,0).",
        "227 Entering Passive Mode (999,0,0,1,4,1).",
        "229 Entering Extended Passive Mode (|||0|)",
        "229 Entering Extended Passive Mode",
        "229 Entering Extended Passive Mode (|||99999|)",
    ])
    func unreadablePassiveRepliesBecome425(_ reply: String) {
        var harness = FilterHarness()
        harness.run([.client("PASV\r\n"), .server(reply + "\r\n"), .client("NOOP\r\n"), .server("200 ok\r\n")])
        #expect(harness.transcript.client == FilterReply.unreadablePassiveReply + "\r\n200 ok\r\n")
        #expect(harness.transcript.control.isEmpty)
        #expect(harness.transcript.logs.contains { $0.contains("Could not read the server's passive reply") })
    }

    @Test func overlongPassiveReplyBecomes425() {
        var harness = FilterHarness(.init(ftpHost: ftpHost, maximumLineLength: 64))
        harness.run([.client("PASV\r\n"), .server("227 Entering Passive Mode (1,2,3,4,5,6)" + String(repeating: " ", count: 100) + "\r\n200 ok\r\n")])
        #expect(harness.transcript.client == FilterReply.unreadablePassiveReply + "\r\n200 ok\r\n")
    }

    @Test func errorRepliesToPASVPassThrough() {
        var harness = FilterHarness()
        harness.run([.client("EPSV\r\nPASV\r\n"), .server("500 EPSV not understood\r\n530 Please login\r\n")])
        #expect(harness.transcript.client == "500 EPSV not understood\r\n530 Please login\r\n")
        #expect(harness.transcript.control.isEmpty)
    }

    @Test func laterOutputWaitsForTheListener() {
        var harness = FilterHarness()
        harness.autoComplete = false
        harness.run([.server("220 ok\r\n"), .client("PASV\r\nNOOP\r\nAUTH TLS\r\n"),
                     .server("227 Entering Passive Mode (1,2,3,4,156,65)\r\n200 NOOP ok\r\n")])
        #expect(harness.transcript.client == "220 ok\r\n")
        #expect(harness.filter.awaitedCompletions == [1])
        #expect(harness.filter.hasHeldOutput)
        #expect(harness.filter.wantsServerBytes)
        harness.record(harness.filter.listenerOpened(1, localPort: 50001))
        #expect(harness.transcript.client == "220 ok\r\n" + local227(1) + "200 NOOP ok\r\n" + FilterReply.authRefused + "\r\n")
        #expect(!harness.filter.hasHeldOutput)
        #expect(harness.filter.awaitedCompletions.isEmpty)
    }

    @Test func heldOutputTurnsOffServerReads() {
        var harness = FilterHarness(.init(ftpHost: ftpHost, maximumHeldBytes: 100))
        harness.autoComplete = false
        harness.run([.client("PASV\r\n"), .server("227 Entering Passive Mode (1,2,3,4,156,65)\r\n")])
        #expect(harness.filter.wantsServerBytes)
        harness.run([.server(String(repeating: "200 filler\r\n", count: 10))])
        #expect(!harness.filter.wantsServerBytes)
        harness.record(harness.filter.listenerOpened(1, localPort: 50001))
        #expect(harness.filter.wantsServerBytes)
    }

    @Test func listenerFailureBecomes425() {
        var harness = FilterHarness()
        harness.autoComplete = false
        harness.run([.client("PASV\r\n"), .server("227 Entering Passive Mode (1,2,3,4,156,65)\r\n")])
        harness.record(harness.filter.listenerFailed(1, reason: "no free port in 40000-40009\r\nsecond line"))
        #expect(harness.transcript.client ==
                "425 Cannot open data connection: ftptunnel could not open a local listener (no free port in 40000-40009  second line).\r\n")
        #expect(harness.transcript.logs.contains { $0.contains("no local data listener") })
    }

    @Test func aPASVReplyNeedsAnIPv4ListenAddress() {
        var harness = FilterHarness(.init(ftpHost: ftpHost, listenAddress: "::1"))
        harness.run([.server("220 ok\r\n"), .client("PASV\r\n"), .server("227 (1,2,3,4,156,65)\r\n")])
        #expect(harness.transcript.client.hasPrefix("220 ok\r\n425 "))
        #expect(harness.transcript.control.last == .releaseData(1))
    }

    @Test func completionsForUnknownListenersAreHarmless() {
        var filter = ControlStreamFilter(.init(ftpHost: ftpHost))
        #expect(filter.listenerOpened(7, localPort: 1).first == .releaseData(7))
        #expect(filter.listenerFailed(7, reason: "x").isEmpty)
        #expect(filter.activeConnected(7).isEmpty)
        #expect(filter.activeConnectFailed(7, reason: "x").isEmpty)
    }

    @Test func pipelinedCommandsKeepTheirOrder() {
        let steps: [FilterHarness.Step] = [
            .server("220 ready\r\n"),
            .client("USER a\r\nPASS b\r\nTYPE I\r\nPASV\r\nAUTH TLS\r\nSIZE f\r\nEPSV\r\nRETR f\r\n"),
            .server("331 pw\r\n230-Welcome\r\n230 in\r\n200 binary\r\n227 Entering Passive Mode (1,2,3,4,156,65).\r\n213 10\r\n"),
            .server("229 Entering Extended Passive Mode (|||6446|)\r\n150 Opening\r\n226 Done\r\n"),
        ]
        let (transcript, failures) = FilterHarness.verifySplitIndependence(steps)
        #expect(failures.isEmpty, "\(failures.first ?? "")")
        #expect(transcript.server == "USER a\r\nPASS b\r\nTYPE I\r\nPASV\r\nSIZE f\r\nEPSV\r\nRETR f\r\n")
        #expect(transcript.client == "220 ready\r\n331 pw\r\n230-Welcome\r\n230 in\r\n200 binary\r\n" + local227(1)
                + FilterReply.authRefused + "\r\n213 10\r\n" + local229(2) + "150 Opening\r\n226 Done\r\n")
    }

    @Test func aNewPassiveEndpointReleasesThePreviousOne() {
        var harness = FilterHarness()
        harness.run([.client("PASV\r\n"), .server("227 (1,2,3,4,156,65)\r\n"), .client("PASV\r\n"), .server("227 (1,2,3,4,156,66)\r\n")])
        #expect(harness.transcript.control == [
            .openPassiveListener(1, target: target(40001), family: .ipv4), .releaseData(1),
            .openPassiveListener(2, target: target(40002), family: .ipv4),
        ])
    }
}

@Suite struct ControlStreamFilterChunkingTests {
    /// A whole session mixing every feature, as exchanges (client bytes, then the server's answers to what was
    /// forwarded so far), each cut into random reads: always the same output as whole buffers.
    @Test(arguments: 0..<40)
    func randomReadSizesGiveTheSameTranscript(seed: Int) {
        let long = String(repeating: "z", count: 150)
        let exchanges: [(client: String, server: String)] = [
            ("", "220 ready\r\n"),
            ("USER a\r\nPASS b\r\nAUTH TLS\r\nFEAT\r\nSTAT\r\nPASV\r\nRETR f\r\nPORT 127,0,0,1,195,80\r\nSTOR g\r\n"
                + "EPSV\r\nLIST\r\nEPRT |1|10.0.0.1|50000|\r\nSITE \(long)\r\nNOOP\r\nQUIT\r\n",
             "331 pw\r\n230 in\r\n211-Features:\r\n EPSV\r\n AUTH TLS\r\n211 End\r\n"
                + "211-Status\r\n227 Entering Passive Mode (9,9,9,9,9,9)\r\n 229 (|||9|)\r\n\(long)\r\n211 End\r\n"
                + "227 Entering Passive Mode (10,0,0,1,156,65)\r\n150 Opening\r\n226 Done\r\n"),
            ("", "229 Entering Extended Passive Mode (|||40002|)\r\n"),
            ("", "150 Ok\r\n226 Stored\r\n229 Entering Extended Passive Mode (|||40003|)\r\n150 Here\r\n226 Listed\r\n"
                + "500 Too long\r\n200 ok\r\n221 bye\r\n"),
        ]
        var reference = FilterHarness(.init(ftpHost: "10.1.2.3", maximumLineLength: 64))
        for exchange in exchanges { reference.run([.client(exchange.client), .server(exchange.server)]) }
        var generator = SeededRandom(seed: UInt64(seed))
        var harness = FilterHarness(.init(ftpHost: "10.1.2.3", maximumLineLength: 64))
        for exchange in exchanges {
            for piece in pieces(exchange.client, &generator) { harness.run([.clientRaw(piece)]) }
            for piece in pieces(exchange.server, &generator) { harness.run([.serverRaw(piece)]) }
        }
        #expect(harness.transcript == reference.transcript, "\(harness.transcript)\nreference:\n\(reference.transcript)")
        #expect(reference.transcript.control == [
            .openPassiveListener(1, target: PassiveEndpoint(host: "10.1.2.3", port: 40001), family: .ipv4),
            .releaseData(1),
            .connectActive(2, server: PassiveEndpoint(host: "10.1.2.3", port: 40002), client: PassiveEndpoint(host: "127.0.0.1", port: 50000)),
            .releaseData(2),
            .openPassiveListener(3, target: PassiveEndpoint(host: "10.1.2.3", port: 40003), family: .ipv4),
        ])
        #expect(reference.transcript.server == "USER a\r\nPASS b\r\nFEAT\r\nSTAT\r\nPASV\r\nRETR f\r\nEPSV\r\nSTOR g\r\n"
                + "EPSV\r\nLIST\r\nSITE \(long)\r\nNOOP\r\nQUIT\r\n")
        #expect(reference.transcript.client == "220 ready\r\n331 pw\r\n230 in\r\n" + FilterReply.authRefused + "\r\n"
                + "211-Features:\r\n EPSV\r\n AUTH TLS\r\n211 End\r\n"
                + "211-Status\r\n227 Entering Passive Mode (9,9,9,9,9,9)\r\n 229 (|||9|)\r\n\(long)\r\n211 End\r\n"
                + local227(1) + "150 Opening\r\n226 Done\r\n" + FilterReply.activeAccepted(verb: "PORT") + "\r\n"
                + "150 Ok\r\n226 Stored\r\n" + local229(3) + "150 Here\r\n226 Listed\r\n"
                + FilterReply.activeNotLoopback(verb: "EPRT") + "\r\n500 Too long\r\n200 ok\r\n221 bye\r\n")
        #expect(!reference.filter.hasHeldOutput)
    }

    private func pieces(_ text: String, _ generator: inout SeededRandom) -> [[UInt8]] {
        let bytes = Array(text.utf8)
        var result: [[UInt8]] = []
        var index = 0
        while index < bytes.count {
            let size = 1 + Int(generator.next() % 23)
            result.append(Array(bytes[index..<min(index + size, bytes.count)]))
            index += size
        }
        return result
    }
}

