import Testing
@testable import FTPCore
@testable import TunnelCore

/// The keeper between the filter and the server: memory of the session, replay after a reconnect, in-flight
/// commands answered in order.
@Suite struct ControlSessionKeeperTests {
    private static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
    private static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// A logged-in session in /pub/incoming, binary mode.
    private static func establishedKeeper() -> FramedKeeper {
        var keeper = FramedKeeper()
        _ = keeper.fromServer(bytes("220 hi\r\n"))
        for (command, reply) in [("USER alice", "331 pw"), ("PASS s3cret", "230 ok"), ("TYPE I", "200 binary"),
                                 ("CWD /pub", "250 ok"), ("CWD incoming", "250 ok"), ("CWD nope", "550 no")] {
            #expect(keeper.sentToServer(bytes(command + "\r\n")) == bytes(command + "\r\n"))
            _ = keeper.fromServer(bytes(reply + "\r\n"))
        }
        return keeper
    }

    @Test func remembersWhatEstablishedTheSession() {
        let keeper = Self.establishedKeeper()
        #expect(keeper.memory.replay.map { Self.text($0.wireBytes) }.joined()
                == "USER alice\r\nPASS s3cret\r\nTYPE I\r\nCWD /pub\r\nCWD incoming\r\n")
    }

    @Test func pwdReplyMakesTheDirectoryAbsolute() {
        var memory = ControlSessionMemory()
        memory.observe(FTPCommandLine(verb: "CWD", argument: "a"), code: 250, text: "250 ok")
        memory.observe(FTPCommandLine(verb: "PWD"), code: 257, text: "257 \"/home/a \"\"q\"\"\" is current")
        #expect(memory.replay.map(\.argument) == ["/home/a \"q\""])
    }

    /// The drop happens with a RETR in flight: the filter gets 426 for it at once; the replay is swallowed.
    @Test func replaysTheSessionAndAbortsTheTransferInFlight() {
        var keeper = Self.establishedKeeper()
        _ = keeper.sentToServer(Self.bytes("RETR big.iso\r\n"))
        _ = keeper.fromServer(Self.bytes("150 opening\r\n"))
        #expect(Self.text(keeper.sessionLost().toFilter).hasPrefix("426 "))
        #expect(!keeper.isLive)
        // The filter sends something meanwhile (e.g. after a completion): it waits.
        #expect(keeper.sentToServer(Self.bytes("NOOP\r\n")).isEmpty)
        keeper.serverReconnected()
        var sent: [UInt8] = []
        var toFilter: [UInt8] = []
        var resumed = false
        for reply in ["220 new", "331 pw", "230 ok", "200 binary", "250 ok", "250 ok"] {
            let output = keeper.fromServer(Self.bytes(reply + "\r\n"))
            sent += output.toServer
            toFilter += output.toFilter
            resumed = resumed || output.resumed
            #expect(output.failure == nil)
        }
        #expect(Self.text(sent) == "USER alice\r\nPASS s3cret\r\nTYPE I\r\nCWD /pub\r\nCWD incoming\r\nNOOP\r\n")
        #expect(toFilter.isEmpty)
        #expect(resumed)
        #expect(keeper.isLive)
        #expect(Self.text(keeper.fromServer(Self.bytes("200 noop\r\n")).toFilter) == "200 noop\r\n")
    }

    /// Loses the session, reconnects and feeds the new server's replies to the replayed login, TYPE and CWD and to
    /// a PWD and a SIZE: what went to the server and what reached the filter.
    static func resumeWithPWDAndSIZE(_ keeper: inout FramedKeeper) -> (sent: [UInt8], toFilter: [UInt8]) {
        _ = keeper.sessionLost()
        keeper.serverReconnected()
        var sent: [UInt8] = []
        var toFilter: [UInt8] = []
        for reply in ["220 new", "331 pw", "230 ok", "200 binary", "250 ok", "250 ok",
                      "257 \"/pub/incoming\"", "213 42"] {
            let output = keeper.fromServer(bytes(reply + "\r\n"))
            sent += output.toServer
            toFilter += output.toFilter
        }
        return (sent, toFilter)
    }

    @Test func harmlessCommandsAreResentAndChangesGet451() {
        var keeper = Self.establishedKeeper()
        _ = keeper.sentToServer(Self.bytes("PWD\r\nDELE x\r\nSIZE y\r\n"))
        let (sent, toFilter) = Self.resumeWithPWDAndSIZE(&keeper)
        #expect(Self.text(sent).hasSuffix("CWD incoming\r\nPWD\r\nSIZE y\r\n"))
        let lines = Self.text(toFilter).components(separatedBy: "\r\n")
        #expect(lines[0] == "257 \"/pub/incoming\"")
        #expect(lines[1].hasPrefix("451 ") && lines[1].contains("DELE"))
        #expect(lines[2] == "213 42")
        #expect(keeper.isLive)
    }

    /// A line that is not a command (no verb of 3-4 letters) still takes its place in the reply order: lost with the
    /// session it is answered 451 in turn, named as what it is, and never resent.
    @Test func unrecognisedLinesAreAnsweredInTurnNotResent() {
        var keeper = Self.establishedKeeper()
        _ = keeper.sentToServer(Self.bytes("PWD\r\n12\r\nSIZE y\r\n"))
        let (sent, toFilter) = Self.resumeWithPWDAndSIZE(&keeper)
        #expect(Self.text(sent).hasSuffix("CWD incoming\r\nPWD\r\nSIZE y\r\n"))
        let lines = Self.text(toFilter).components(separatedBy: "\r\n")
        #expect(lines[0] == "257 \"/pub/incoming\"")
        #expect(lines[1].hasPrefix("451 ") && lines[1].contains("an unrecognised command"), "\(lines)")
        #expect(lines[2] == "213 42")
        #expect(keeper.isLive)
    }

    @Test func aFailedReplayEndsTheSession() {
        var keeper = Self.establishedKeeper()
        _ = keeper.sessionLost()
        keeper.serverReconnected()
        var failure: String?
        for reply in ["220 new", "331 pw", "230 ok", "200 binary", "550 /pub: gone"] {
            failure = failure ?? keeper.fromServer(Self.bytes(reply + "\r\n")).failure
        }
        #expect(failure?.contains("CWD /pub") == true)
        #expect(keeper.phase == .failed)
    }

    @Test func aWrongPasswordNowEndsTheSessionWithoutShowingIt() {
        var keeper = Self.establishedKeeper()
        _ = keeper.sessionLost()
        keeper.serverReconnected()
        var failure: String?
        for reply in ["220 new", "331 pw", "530 Login incorrect"] {
            failure = failure ?? keeper.fromServer(Self.bytes(reply + "\r\n")).failure
        }
        #expect(failure?.contains("PASS") == true)
        #expect(failure?.contains("s3cret") == false)
    }

    @Test func aMultilineReplyCutShortIsClosed() {
        var keeper = Self.establishedKeeper()
        _ = keeper.sentToServer(Self.bytes("FEAT\r\n"))
        // The cut line is the conversation's until the loss completes it: the filter gets the same bytes in total.
        let before = keeper.fromServer(Self.bytes("211-Features:\r\n MDTM\r\n SI"))
        let output = keeper.sessionLost()
        #expect(Self.text(before.toFilter + output.toFilter) == "211-Features:\r\n MDTM\r\n SI\r\n211 (reply cut short: the SSH session was lost)\r\n")
        keeper.serverReconnected()
        var sent: [UInt8] = []
        for reply in ["220 new", "331 pw", "230 ok", "200 binary", "250 ok", "250 ok"] {
            sent += keeper.fromServer(Self.bytes(reply + "\r\n")).toServer
        }
        #expect(!Self.text(sent).contains("FEAT"))
        #expect(keeper.isLive)
    }

    @Test func aSessionLostBeforeTheGreetingGetsTheNewGreeting() {
        var keeper = FramedKeeper()
        _ = keeper.sessionLost()
        keeper.serverReconnected()
        let output = keeper.fromServer(Self.bytes("220 hello again\r\n"))
        #expect(Self.text(output.toFilter) == "220 hello again\r\n")
        #expect(keeper.isLive)
    }
}
