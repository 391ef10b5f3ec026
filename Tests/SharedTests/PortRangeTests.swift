import Foundation
import Testing
@testable import FTPCore
@testable import TunnelCore

@Suite struct PortRangeTests {
    @Test func parsesRangesAndSinglePorts() {
        #expect(PortRange("40000-40009")?.count == 10)
        #expect(PortRange("2121")?.ports == 2121...2121)
        #expect(PortRange(" 1 - 2 ")?.description == "1-2")
    }

    @Test(arguments: ["", "0-5", "5-1", "1-70000", "a-b", "1-", "-1", "1-2-3", "99999999999999999999"])
    func rejectsMalformed(_ text: String) {
        #expect(PortRange(text) == nil)
    }
}

@Suite struct DigestTests {
    @Test func sha256OfKnownVector() {
        let hex = Digest.sha256(Array("abc".utf8)).map { String(format: "%02x", $0) }.joined()
        #expect(hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func hmacSHA1OfKnownVector() {
        // RFC 2202 test case 2
        let mac = Digest.hmacSHA1(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(mac.map { String(format: "%02x", $0) }.joined() == "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79")
    }
}
