import Testing
@testable import FTPCore
@testable import TunnelCore

private let ftpHost = "10.1.2.3"

private func ok(_ verb: String) -> String { FilterReply.activeAccepted(verb: verb) + "\r\n" }

@Suite struct ControlStreamFilterActiveTests {
    @Test func portIsConvertedToEPSVAndConnectedThroughTheTunnel() {
        let steps: [FilterHarness.Step] = [
            .server("220 ready\r\n"),
            .client("TYPE I\r\n"), .server("200 binary\r\n"),
            .client("PORT 127,0,0,1,195,80\r\n"),
            .server("229 Entering Extended Passive Mode (|||40001|)\r\n"),
            .client("RETR f\r\n"), .server("150 Opening\r\n226 Done\r\n"),
        ]
        let (transcript, failures) = FilterHarness.verifySplitIndependence(steps)
        #expect(failures.isEmpty, "\(failures.first ?? "")")
        #expect(transcript.server == "TYPE I\r\nEPSV\r\nRETR f\r\n")
        #expect(transcript.client == "220 ready\r\n200 binary\r\n" + ok("PORT") + "150 Opening\r\n226 Done\r\n")
        #expect(transcript.control == [.connectActive(1, server: PassiveEndpoint(host: ftpHost, port: 40001),
                                                      client: PassiveEndpoint(host: "127.0.0.1", port: 50000))])
    }

    @Test func pipelinedCommandsAfterPortWaitForTheConnection() {
        var harness = FilterHarness()
        harness.autoComplete = false
        harness.run([.server("220 ready\r\n"), .client("NOOP\r\nPORT 127,0,0,1,195,80\r\nREST 100\r\nRETR f\r\n")])
        // EPSV waits for the NOOP's reply, so its answer cannot be confused with another.
        #expect(harness.transcript.server == "NOOP\r\n")
        #expect(harness.filter.wantsClientBytes)
        harness.run([.server("200 NOOP ok\r\n")])
        #expect(harness.transcript.server == "NOOP\r\nEPSV\r\n")
        harness.run([.server("229 Entering Extended Passive Mode (|||40001|)\r\n")])
        #expect(harness.transcript.server == "NOOP\r\nEPSV\r\n")
        #expect(harness.transcript.client == "220 ready\r\n200 NOOP ok\r\n")
        #expect(harness.filter.awaitedCompletions == [1])
        harness.record(harness.filter.activeConnected(1))
        #expect(harness.transcript.server == "NOOP\r\nEPSV\r\nREST 100\r\nRETR f\r\n")
        #expect(harness.transcript.client == "220 ready\r\n200 NOOP ok\r\n" + ok("PORT"))
        #expect(!harness.filter.hasHeldOutput)
    }

    @Test func heldClientInputTurnsOffClientReads() {
        var harness = FilterHarness(.init(ftpHost: ftpHost, maximumHeldBytes: 64))
        harness.autoComplete = false
        harness.run([.server("220 ready\r\n"), .client("PORT 127,0,0,1,195,80\r\n")])
        #expect(harness.filter.wantsClientBytes)
        harness.run([.client(String(repeating: "NOOP\r\n", count: 20))])
        #expect(!harness.filter.wantsClientBytes)
        #expect(harness.transcript.server == "EPSV\r\n")
        harness.run([.server("229 (|||40001|)\r\n")])
        harness.record(harness.filter.activeConnected(1))
        #expect(harness.filter.wantsClientBytes)
        #expect(harness.transcript.server == "EPSV\r\n" + String(repeating: "NOOP\r\n", count: 20))
    }

    @Test func serverClosingDuringAConversionAbandonsIt() {
        var harness = FilterHarness()
        harness.run([.server("220 ready\r\n"), .client("PORT 127,0,0,1,195,80\r\nRETR f\r\n")])
        harness.serverEnded()
        #expect(!harness.filter.hasHeldOutput)
        #expect(harness.transcript.server == "EPSV\r\n")
    }

    /// Found by fuzz-control-stream-filter: a second PORT held behind a connecting conversion was replayed after
    /// the server had ended, started a conversion nobody could answer, and held output forever (so the loop
    /// never closed the client).
    @Test func serverClosingWhileConnectingDropsHeldCommands() {
        var harness = FilterHarness()
        harness.autoComplete = false
        harness.run([.server("220 ready\r\n"), .client("PORT 127,0,0,1,4,1\r\nPORT 127,0,0,1,4,2\r\nNOOP\r\n"),
                     .server("229 (|||5000|)\r\n")])
        harness.serverEnded()
        harness.record(harness.filter.activeConnected(1))
        #expect(!harness.filter.hasHeldOutput)
        #expect(harness.filter.awaitedCompletions.isEmpty)
        #expect(harness.transcript.server == "EPSV\r\n")
        #expect(harness.transcript.client == "220 ready\r\n" + ok("PORT"))
    }

    @Test func portAfterTheServerEndedIsRefusedLocally() {
        var harness = FilterHarness()
        harness.run([.server("220 ready\r\n")])
        harness.serverEnded()
        harness.run([.client("PORT 127,0,0,1,4,1\r\nNOOP\r\n")])
        #expect(!harness.filter.hasHeldOutput)
        #expect(harness.transcript.client.hasPrefix("220 ready\r\n425 "))
        #expect(harness.transcript.server == "NOOP\r\n")
    }

    @Test(arguments: [500, 501, 502, 522])
    func epsvRejectedFallsBackToPASVAndIsRemembered(_ code: Int) {
        let steps: [FilterHarness.Step] = [
            .server("220 ready\r\n"),
            .client("PORT 127,0,0,1,195,80\r\n"),
            .server("\(code) EPSV not understood\r\n"),
            .server("227 Entering Passive Mode (192,168,1,2,156,65).\r\n"),
            .client("LIST\r\n"), .server("150 Here\r\n226 Done\r\n"),
            .client("EPRT |1|127.0.0.1|50001|\r\n"),
            .server("227 Entering Passive Mode (192,168,1,2,156,66).\r\n"),
        ]
        let (transcript, failures) = FilterHarness.verifySplitIndependence(steps)
        #expect(failures.isEmpty, "\(failures.first ?? "")")
        #expect(transcript.server == "EPSV\r\nPASV\r\nLIST\r\nPASV\r\n")
        #expect(transcript.client == "220 ready\r\n" + ok("PORT") + "150 Here\r\n226 Done\r\n" + ok("EPRT"))
        #expect(transcript.control == [
            .connectActive(1, server: PassiveEndpoint(host: ftpHost, port: 40001), client: PassiveEndpoint(host: "127.0.0.1", port: 50000)),
            .releaseData(1),
            .connectActive(2, server: PassiveEndpoint(host: ftpHost, port: 40002), client: PassiveEndpoint(host: "127.0.0.1", port: 50001)),
        ])
    }

    @Test func serverPolicyAppliesToTheFallbackPASV() {
        var harness = FilterHarness(.init(ftpHost: ftpHost, passiveHost: .server))
        harness.run([.server("220 ready\r\n"), .client("PORT 127,0,0,1,195,80\r\n"), .server("502 no\r\n"),
                     .server("227 Entering Passive Mode (192,168,1,2,156,65).\r\n")])
        #expect(harness.transcript.control == [
            .connectActive(1, server: PassiveEndpoint(host: "192.168.1.2", port: 40001), client: PassiveEndpoint(host: "127.0.0.1", port: 50000)),
        ])
    }

    @Test func serverRefusingBothPassiveModesFailsThePort() {
        var harness = FilterHarness()
        harness.run([.server("220 ready\r\n"), .client("PORT 127,0,0,1,195,80\r\nRETR f\r\n"),
                     .server("500 EPSV?\r\n"), .server("502 PASV not implemented\r\n")])
        #expect(harness.transcript.server == "EPSV\r\nPASV\r\nRETR f\r\n")
        #expect(harness.transcript.client == "220 ready\r\n" +
                FilterReply.activeServerRefused(code: 502, verb: "PORT", server: "PASV not implemented") + "\r\n")
        #expect(harness.transcript.control.isEmpty)
    }

    @Test func otherServerErrorsKeepTheirCode() {
        var harness = FilterHarness()
        harness.run([.server("220 ready\r\n"), .client("PORT 127,0,0,1,195,80\r\n"), .server("530 Please login with USER and PASS.\r\n")])
        #expect(harness.transcript.client.hasSuffix("530 PORT failed: active mode through the tunnel needs passive mode on the server, which answered: Please login with USER and PASS.\r\n"))
        #expect(harness.transcript.server == "EPSV\r\n")
    }

    @Test func unreadablePassiveReplyFailsThePortWith425() {
        var harness = FilterHarness()
        harness.run([.server("220 ready\r\n"), .client("PORT 127,0,0,1,195,80\r\n"), .server("229 Entering Extended Passive Mode\r\n")])
        #expect(harness.transcript.client.hasPrefix("220 ready\r\n425 PORT failed"))
        #expect(harness.transcript.logs.contains { $0.contains("Could not read the server's passive reply") })
    }

    @Test func connectFailureAnswers425AndReleasesTheClient() {
        var harness = FilterHarness()
        harness.autoComplete = false
        harness.run([.server("220 ready\r\n"), .client("PORT 127,0,0,1,195,80\r\nRETR f\r\n"),
                     .server("229 Entering Extended Passive Mode (|||40001|)\r\n")])
        harness.record(harness.filter.activeConnectFailed(1, reason: "connection refused"))
        #expect(harness.transcript.client == "220 ready\r\n425 Cannot open data connection to the address the client announced (connection refused).\r\n")
        #expect(harness.transcript.server == "EPSV\r\nRETR f\r\n")
        #expect(harness.transcript.logs.contains { $0.contains("failed (connection refused)") })
    }

    /// The loop found the target is not the client's own socket: 501 for the PORT, the held RETR goes on (the
    /// server answers it: no data connection), and the log says why. A late or second answer changes nothing.
    @Test func aRefusedTargetAnswers501AndReleasesTheClient() {
        var harness = FilterHarness()
        harness.autoComplete = false
        harness.run([.server("220 ready\r\n"), .client("PORT 127,0,0,1,195,80\r\nRETR f\r\n"),
                     .server("229 Entering Extended Passive Mode (|||40001|)\r\n")])
        harness.record(harness.filter.activeRefused(1, reason: "the socket listening at 127.0.0.1:50000 belongs to uid 0"))
        #expect(harness.transcript.client == "220 ready\r\n501 PORT refused: active mode connects only to a port your own user listens on, on your own address.\r\n")
        #expect(harness.transcript.server == "EPSV\r\nRETR f\r\n")
        #expect(harness.transcript.logs.contains { $0.contains("refused PORT to 127.0.0.1:50000: the socket listening at 127.0.0.1:50000 belongs to uid 0.") })
        #expect(harness.filter.activeRefused(1, reason: "again").isEmpty)
        #expect(harness.filter.activeConnected(1).isEmpty)
    }

    @Test func eprtOverIPv6Loopback() {
        var harness = FilterHarness(.init(ftpHost: ftpHost, clientFamily: .ipv6))
        harness.run([.server("220 ready\r\n"), .client("EPRT |2|::1|50000|\r\n"), .server("229 (|||40001|)\r\n")])
        #expect(harness.transcript.control == [.connectActive(1, server: PassiveEndpoint(host: ftpHost, port: 40001),
                                                              client: PassiveEndpoint(host: "::1", port: 50000))])
        #expect(harness.transcript.client == "220 ready\r\n" + ok("EPRT"))
    }

    @Test(arguments: [
        ("PORT 10,0,0,1,195,80", FilterReply.activeNotLoopback(verb: "PORT")),
        ("PORT 192,168,1,1,195,80", FilterReply.activeNotLoopback(verb: "PORT")),
        ("PORT 0,0,0,0,195,80", FilterReply.activeNotLoopback(verb: "PORT")),
        ("PORT 127,0,0,1,0,25", FilterReply.activePrivilegedPort(verb: "PORT")),
        ("PORT 127,0,0,1", FilterReply.portSyntax),
        ("PORT", FilterReply.portSyntax),
        ("EPRT |1|10.0.0.1|50000|", FilterReply.activeNotLoopback(verb: "EPRT")),
        ("EPRT |2|fe80::1|50000|", FilterReply.activeNotLoopback(verb: "EPRT")),
        ("EPRT |2|::ffff:10.0.0.1|50000|", FilterReply.activeNotLoopback(verb: "EPRT")),
        ("EPRT |1|127.0.0.1|21|", FilterReply.activePrivilegedPort(verb: "EPRT")),
        ("EPRT |3|127.0.0.1|50000|", FilterReply.unsupportedFamily),
        ("EPRT |1|127.0.0.1|", FilterReply.eprtSyntax),
        ("EPRT 127.0.0.1", FilterReply.eprtSyntax),
        ("LPRT 4,4,127,0,0,1,2,195,80", FilterReply.longAddressUnsupported("LPRT")),
        ("LPSV", FilterReply.longAddressUnsupported("LPSV")),
    ])
    func refusedActiveRequestsNeverReachTheServer(_ command: String, _ reply: String) {
        var harness = FilterHarness()
        harness.run([.server("220 ready\r\n"), .client(command + "\r\nNOOP\r\n"), .server("200 ok\r\n")])
        #expect(harness.transcript.server == "NOOP\r\n")
        #expect(harness.transcript.client == "220 ready\r\n" + reply + "\r\n200 ok\r\n")
        #expect(harness.transcript.control.isEmpty)
    }

    @Test func refusalOfNonLoopbackIsLogged() {
        var harness = FilterHarness()
        harness.run([.client("PORT 10,0,0,1,195,80\r\n")])
        #expect(harness.transcript.logs.contains { $0.contains("loopback addresses only") })
    }
}

@Suite struct ControlStreamFilterCommandTests {
    @Test(arguments: ["AUTH TLS", "AUTH SSL", "auth tls", "AUTH TLS-C", "AUTH GSSAPI", "AUTH"])
    func authIsAnswered534Locally(_ command: String) {
        var harness = FilterHarness()
        harness.run([.server("220 ready\r\n"), .client(command + "\r\nUSER a\r\n"), .server("331 pw\r\n")])
        #expect(harness.transcript.server == "USER a\r\n")
        #expect(harness.transcript.client == "220 ready\r\n" + FilterReply.authRefused + "\r\n331 pw\r\n")
    }

    @Test func localRepliesWaitForEarlierReplies() {
        var harness = FilterHarness()
        harness.run([.client("AUTH TLS\r\n")])
        #expect(harness.transcript.client.isEmpty)  // the banner has not arrived yet
        harness.run([.server("220 ready\r\n")])
        #expect(harness.transcript.client == "220 ready\r\n" + FilterReply.authRefused + "\r\n")
    }

    @Test func preliminaryRepliesDoNotCompleteACommand() {
        var harness = FilterHarness()
        harness.run([.server("220 ready\r\n"), .client("RETR f\r\nAUTH TLS\r\n"), .server("150 Opening\r\n")])
        #expect(harness.transcript.client == "220 ready\r\n150 Opening\r\n")
        harness.run([.server("226 Done\r\n")])
        #expect(harness.transcript.client == "220 ready\r\n150 Opening\r\n226 Done\r\n" + FilterReply.authRefused + "\r\n")
    }

    @Test func epsvAllIsAnsweredLocallyAndEnforced() {
        var harness = FilterHarness()
        harness.run([.server("220 ready\r\n"), .client("EPSV ALL\r\nPASV\r\nPORT 127,0,0,1,195,80\r\nEPRT |1|127.0.0.1|50000|\r\nEPSV\r\n"),
                     .server("229 (|||6446|)\r\n")])
        #expect(harness.transcript.server == "EPSV\r\n")
        #expect(harness.transcript.client == "220 ready\r\n" + FilterReply.epsvAllAccepted + "\r\n"
                + FilterReply.refusedAfterEPSVAll("PASV") + "\r\n" + FilterReply.refusedAfterEPSVAll("PORT") + "\r\n"
                + FilterReply.refusedAfterEPSVAll("EPRT") + "\r\n"
                + PassiveEndpoint(host: nil, port: 50001).extendedPassiveReply() + "\r\n")
    }

    @Test func reinitialiseClearsEPSVAll() {
        var harness = FilterHarness()
        harness.run([.server("220 ready\r\n"), .client("EPSV ALL\r\nREIN\r\n"), .server("220 again\r\n"), .client("PASV\r\n")])
        #expect(harness.transcript.server == "REIN\r\nPASV\r\n")
    }

    @Test func abortWithTelnetSequencePassesAndCorrelates() {
        let abort: [UInt8] = [0xFF, 0xF4, 0xFF, 0xF2] + Array("ABOR\r\n".utf8)
        var harness = FilterHarness()
        harness.run([.server("220 ready\r\n"), .client("RETR f\r\n"), .server("150 Opening\r\n"), .clientRaw(abort),
                     .client("AUTH TLS\r\n"), .server("426 Aborted\r\n226 ABOR ok\r\n")])
        #expect(harness.transcript.toServer == Array("RETR f\r\n".utf8) + abort)
        #expect(harness.transcript.client == "220 ready\r\n150 Opening\r\n426 Aborted\r\n226 ABOR ok\r\n" + FilterReply.authRefused + "\r\n")
    }
}
