import Testing
@testable import TunnelCore

/// Fixed mode's guard: allowed commands byte for byte; active mode, passive variants the tunnel does not carry and
/// unknown verbs answered locally (in reply order); transparent after AUTH.
@Suite struct FixedModeGuardTests {
    enum Step { case client(String), server(String) }

    /// Runs `steps`, each cut into reads of `chunk` bytes (0: whole), and returns what each side received.
    static func run(_ steps: [Step], chunk: Int = 0) -> (server: String, client: String) {
        var guardState = FixedModeGuard()
        var toServer: [UInt8] = []
        var toClient: [UInt8] = []
        for step in steps {
            let (bytes, isClient): ([UInt8], Bool)
            switch step {
            case .client(let text): (bytes, isClient) = (Array(text.utf8), true)
            case .server(let text): (bytes, isClient) = (Array(text.utf8), false)
            }
            let size = chunk == 0 ? max(1, bytes.count) : chunk
            for start in stride(from: 0, to: bytes.count, by: size) {
                let piece = bytes[start..<min(bytes.count, start + size)]
                let output = isClient ? guardState.clientBytes(piece) : guardState.serverBytes(piece)
                toServer += output.toServer
                toClient += output.toClient
            }
        }
        return (String(decoding: toServer, as: UTF8.self), String(decoding: toClient, as: UTF8.self))
    }

    static let refusedPORT = FilterReply.activeRefusedInFixedMode("PORT") + "\r\n"

    @Test(arguments: [0, 1, 3, 7])
    func ordinarySessionPassesByteForByte(chunk: Int) {
        let replies = "331 pw\r\n230-welcome\r\n 230 not the end\r\n230 ok\r\n227 Entering Passive Mode (127,0,0,1,156,64).\r\n"
        let client = "USER a\r\nPASS b\r\nPASV\r\n"
        let result = Self.run([.server("220 hi\r\n"), .client(client), .server(replies)], chunk: chunk)
        #expect(result.server == client)
        #expect(result.client == "220 hi\r\n" + replies)
    }

    @Test(arguments: [0, 1, 5])
    func portIsRefusedAfterTheRepliesToEarlierCommands(chunk: Int) {
        let result = Self.run([.server("220 hi\r\n"), .client("NOOP\r\nPORT 127,0,0,1,4,1\r\nPWD\r\n"),
                               .server("150 wait\r\n200 ok\r\n"), .server("257 \"/\"\r\n")], chunk: chunk)
        #expect(result.server == "NOOP\r\nPWD\r\n")
        #expect(result.client == "220 hi\r\n150 wait\r\n200 ok\r\n" + Self.refusedPORT + "257 \"/\"\r\n")
    }

    @Test func eprtIsRefusedAtOnceWhenNothingIsOutstanding() {
        let result = Self.run([.server("220 hi\r\n"), .client("EPRT |1|127.0.0.1|5000|\r\n")])
        #expect(result.server == "")
        #expect(result.client == "220 hi\r\n" + FilterReply.activeRefusedInFixedMode("EPRT") + "\r\n")
    }

    @Test(arguments: [0, 1, 4])
    func afterAuthEverythingPassesUntouched(chunk: Int) {
        let tls = "\u{16}\u{03}\u{01}PORT 1,2,3,4,5,6\r\nbinary\u{0}"
        let result = Self.run([.server("220 hi\r\n"), .client("AUTH TLS\r\n"), .server("234 go\r\n"),
                               .client(tls), .server(tls)], chunk: chunk)
        #expect(result.server == "AUTH TLS\r\n" + tls)
        #expect(result.client == "220 hi\r\n234 go\r\n" + tls)
    }

    @Test func heldClientInputIsBounded() {
        var guardState = FixedModeGuard(maximumHeldBytes: 100)
        _ = guardState.clientBytes(Array("PORT 127,0,0,1,4,1\r\n".utf8))  // the greeting is still outstanding
        #expect(guardState.holdsOutput)
        while guardState.wantsClientBytes { _ = guardState.clientBytes(Array("NOOP\r\n".utf8)) }
        let output = guardState.serverBytes(Array("220 hi\r\n".utf8))
        #expect(String(decoding: output.toClient, as: UTF8.self) == "220 hi\r\n" + Self.refusedPORT)
        #expect(output.toServer.count >= 100)
        #expect(guardState.wantsClientBytes)
    }

    @Test(arguments: [0, 1, 3])
    func longAddressPassiveVariantsAndUnknownVerbsAreAnsweredLocally(chunk: Int) {
        let result = Self.run([.server("220 hi\r\n"), .client("LPRT 4,4,127,0,0,1,2,4,1\r\nLPSV\r\nSPSV\r\nP@SW\r\nXYZZ\r\n%%\r\n \r\nNOOP\r\n"),
                               .server("200 ok\r\n")], chunk: chunk)
        #expect(result.server == "NOOP\r\n")
        #expect(result.client == "220 hi\r\n" + FilterReply.activeRefusedInFixedMode("LPRT") + "\r\n"
            + ["LPSV", "SPSV", "P@SW"].map { FilterReply.longAddressUnsupported($0) + "\r\n" }.joined()
            + "502 XYZZ not implemented by the tunnel.\r\n500 Syntax error, command unrecognized.\r\n200 ok\r\n")
    }

    @Test func anOverlongLineWithARefusedVerbNeverReachesTheServer() {
        var guardState = FixedModeGuard()
        _ = guardState.serverBytes(Array("220 hi\r\n".utf8))
        let long = "LPRT " + String(repeating: "1,", count: 40_000) + "1\r\nNOOP\r\n"
        var toServer: [UInt8] = []
        var toClient: [UInt8] = []
        for byte in long.utf8 {
            let output = guardState.clientBytes([byte])
            toServer += output.toServer
            toClient += output.toClient
        }
        #expect(String(decoding: toServer, as: UTF8.self) == "NOOP\r\n")
        #expect(String(decoding: toClient, as: UTF8.self) == FilterReply.lineTooLong + "\r\n")
    }

    @Test func anUnfinishedRefusedLineAtTheEndIsDropped() {
        var guardState = FixedModeGuard()
        _ = guardState.serverBytes(Array("220 hi\r\n".utf8))
        _ = guardState.clientBytes(Array("LPSV".utf8))
        #expect(guardState.clientEnded().toServer.isEmpty)
        var other = FixedModeGuard()
        _ = other.serverBytes(Array("220 hi\r\n".utf8))
        _ = other.clientBytes(Array("QUIT".utf8))
        #expect(other.clientEnded().toServer == Array("QUIT".utf8))
    }
}
