import Testing
@testable import TunnelCore

/// The allow-list of commands the tunnel passes to the server, in both modes.
@Suite struct TunnelVerbPolicyTests {
    static func decide(_ line: String) -> TunnelVerbPolicy.Decision { TunnelVerbPolicy.decide(Array(line.utf8)[...]) }

    @Test(arguments: ["USER a", "pass b", "RETR x", "STOR y", "PASV", "EPSV", "EPSV ALL", "MLSD", "OPTS UTF8 ON", "SITE CHMOD 644 f",
                      "XSHA256 f", "MFMT 20260101000000 f", "HOST example", "AUTH TLS", "xpwd"])
    func knownCommandsPass(line: String) {
        #expect(Self.decide(line) == .forward)
    }

    @Test func activeModeVerbsAreNamed() {
        #expect(Self.decide("PORT 127,0,0,1,4,1") == .active("PORT"))
        #expect(Self.decide("eprt |1|127.0.0.1|1025|") == .active("EPRT"))
        #expect(Self.decide("LPRT 4,4,127,0,0,1,2,4,1") == .active("LPRT"))
    }

    @Test(arguments: ["LPSV", "SPSV", "P@SW", "lpsv"])
    func passiveVariantsTheTunnelDoesNotCarryAreRefused(line: String) {
        #expect(Self.decide(line) == .passiveOutsideTunnel(line.uppercased()))
        #expect(TunnelVerbPolicy.refusal(for: Self.decide(line))?.hasPrefix("502 ") == true)
    }

    @Test func unknownVerbsAndLinesWithoutAVerbAreRefused() {
        #expect(Self.decide("XYZZ a") == .unknown("XYZZ"))
        #expect(Self.decide("%%%") == .unreadable)
        #expect(Self.decide("TOOLONGVERB x") == .unreadable)
        #expect(TunnelVerbPolicy.refusal(for: .unknown("XYZZ")) == "502 XYZZ not implemented by the tunnel.")
        #expect(TunnelVerbPolicy.refusal(for: .unreadable)?.hasPrefix("500 ") == true)
        #expect(TunnelVerbPolicy.refusal(for: .forward) == nil)
    }

    @Test func telnetAbortSequencesBeforeTheVerbAreIgnored() {
        let iacAbort: [UInt8] = [255, 244, 255, 242] + Array("ABOR".utf8)
        #expect(TunnelVerbPolicy.decide(iacAbort[...]) == .forward)
    }
}
