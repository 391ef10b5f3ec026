import Testing
@testable import FTPCore

@Suite struct PassiveReplyParserTests {
    struct Variant: CustomTestStringConvertible, Sendable {
        var source: String
        var reply: String
        var host: String
        var port: Int
        var testDescription: String { source }
    }

    /// 227 replies as servers send them.
    static let passiveVariants: [Variant] = [
        Variant(source: "vsftpd", reply: "227 Entering Passive Mode (127,0,0,2,156,65).", host: "127.0.0.2", port: 40001),
        Variant(source: "ProFTPD", reply: "227 Entering Passive Mode (192,168,1,10,195,149).", host: "192.168.1.10", port: 50069),
        Variant(source: "pure-ftpd", reply: "227 Entering Passive Mode (10,0,0,5,117,51)", host: "10.0.0.5", port: 30003),
        Variant(source: "IIS without trailing dot", reply: "227 Entering Passive Mode (10,0,0,1,19,137)", host: "10.0.0.1", port: 5001),
        Variant(source: "equals form", reply: "227 Entering Passive Mode = 127,0,0,1,4,1", host: "127.0.0.1", port: 1025),
        Variant(source: "=h form", reply: "227 =127,0,0,1,4,1", host: "127.0.0.1", port: 1025),
        Variant(source: "dot then numbers", reply: "227 Entering Passive Mode. 127,0,0,1,4,1", host: "127.0.0.1", port: 1025),
        Variant(source: "no parentheses", reply: "227 Entering Passive Mode 127,0,0,1,4,1", host: "127.0.0.1", port: 1025),
        Variant(source: "curl's 'passively listen'", reply: "227 Data transfer will passively listen to 127,0,0,1,4,51", host: "127.0.0.1", port: 1075),
        Variant(source: "spaces after commas", reply: "227 Entering Passive Mode (127, 0, 0, 1, 156, 65).", host: "127.0.0.1", port: 40001),
        Variant(source: "spaces around commas", reply: "227 Entering Passive Mode (127 , 0 , 0 , 1 , 156 , 65)", host: "127.0.0.1", port: 40001),
        Variant(source: "text after", reply: "227 Entering Passive Mode (1,2,3,4,5,6). Have a nice day", host: "1.2.3.4", port: 1286),
        Variant(source: "digits in text before", reply: "227 Mode 2 ok, port 7: (1,2,3,4,5,6)", host: "1.2.3.4", port: 1286),
        Variant(source: "lower case", reply: "227 entering passive mode (1,2,3,4,0,21)", host: "1.2.3.4", port: 21),
        Variant(source: "FileZilla Server", reply: "227 Entering Passive Mode (172,16,0,9,199,56)", host: "172.16.0.9", port: 51000),
        Variant(source: "zero address (pure-ftpd bound to any)", reply: "227 Entering Passive Mode (0,0,0,0,78,32)", host: "0.0.0.0", port: 20000),
        Variant(source: "leading zeros", reply: "227 Entering Passive Mode (127,000,000,001,004,001)", host: "127.0.0.1", port: 1025),
    ]

    @Test(arguments: passiveVariants)
    func reads227(_ variant: Variant) throws {
        let reply = try #require(parsedReply([variant.reply]))
        #expect(PassiveReplyParser.endpoint(of: reply) == PassiveEndpoint(host: variant.host, port: variant.port))
    }

    @Test(arguments: [
        "227 Entering Passive Mode",
        "227 Entering Passive Mode (127,0,0,1,4).",
        "227 Entering Passive Mode (256,0,0,1,4,1).",
        "227 Entering Passive Mode (127,0,0,1,0,0).",
        "227 Entering Passive Mode (127,0,0,1,4,1,7).",
        "227 Entering Passive Mode (1234,0,0,1,4,1).",
        "227 Entering Passive Mode (127,0,0,1,4,1000).",
        "227 Entering Passive Mode (a,b,c,d,e,f)",
        "227 Entering Passive Mode (127;0;0;1;4;1)",
        "227 (-1,0,0,1,4,1)0",
    ])
    func refusesBroken227(_ text: String) throws {
        let reply = try #require(parsedReply([text]))
        #expect(PassiveReplyParser.endpoint(of: reply) == nil, "\(text)")
    }

    @Test func readsMultiline227() throws {
        let reply = try #require(parsedReply(["227-Entering Passive Mode", "227 (127,0,0,1,156,65)"]))
        #expect(PassiveReplyParser.endpoint(of: reply) == PassiveEndpoint(host: "127.0.0.1", port: 40001))
    }

    @Test(arguments: [
        ("229 Entering Extended Passive Mode (|||6446|)", 6446),
        ("229 Entering Extended Passive Mode (|||6446|).", 6446),
        ("229 Extended Passive mode OK (|||40001|)", 40001),
        ("229 Entering Passive Mode (!!!6446!)", 6446),
        ("229 EPSV ok (###1#)", 1),
        ("229 Entering Extended Passive Mode |||65535|", 65535),
        ("229 Entering Extended Passive Mode (|1|10.0.0.1|6446|)", 6446),
        ("229 Entering Extended Passive Mode (|2|::1|6446|)", 6446),
        ("229 Entering Extended-Passive-Mode (|||6446|)", 6446),
        // Found by fuzz-ftp-parsers: a delimiter run in the text came before the parenthesised port.
        ("229 :::20: Entering Extended Passive Mode (|||42106|)", 42106),
    ])
    func reads229(_ text: String, _ port: Int) throws {
        let reply = try #require(parsedReply([text]))
        #expect(PassiveReplyParser.endpoint(of: reply) == PassiveEndpoint(host: nil, port: port))
    }

    @Test(arguments: [
        "229 Entering Extended Passive Mode",
        "229 Entering Extended Passive Mode (||||)",
        "229 Entering Extended Passive Mode (|||0|)",
        "229 Entering Extended Passive Mode (|||65536|)",
        "229 Entering Extended Passive Mode (|||123456|)",
        "229 Entering Extended Passive Mode (|||64a|)",
        "229 Entering Extended Passive Mode (|||6446!)",
        "229 Entering Extended Passive Mode (6446)",
        "229 Entering Extended Passive Mode (127,0,0,1,4,1)",
    ])
    func refusesBroken229(_ text: String) throws {
        let reply = try #require(parsedReply([text]))
        #expect(PassiveReplyParser.endpoint(of: reply) == nil, "\(text)")
    }

    @Test func otherCodesHaveNoEndpoint() {
        #expect(PassiveReplyParser.endpoint(of: FTPReply(code: 200, lines: ["200 (127,0,0,1,4,1)"])) == nil)
    }
}

@Suite struct PassiveLoopbackAddressTests {
    @Test(arguments: ["127.0.0.1", "127.1.2.3", "127.255.255.254", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "0000::0001"])
    func loopback(_ host: String) { #expect(LoopbackAddress.isLoopback(host)) }

    @Test(arguments: ["10.0.0.1", "128.0.0.1", "0.0.0.0", "::", "::2", "fe80::1", "::ffff:10.0.0.1", "localhost",
                      "127.0.0", "1::1::1", "::1%lo", "example.com", ""])
    func notLoopback(_ host: String) { #expect(!LoopbackAddress.isLoopback(host)) }

    /// Where the tunnel listens: any loopback address (127.0.0.2 too) is local only, so no warning.
    @Test(arguments: ["127.0.0.1", "127.0.0.2", "127.10.20.30", "::1", "::ffff:127.0.0.2", "localhost"])
    func localOnlyBindAddress(_ address: String) { #expect(LoopbackAddress.isLocalOnly(bindAddress: address)) }

    @Test(arguments: ["0.0.0.0", "::", "10.1.2.3", "192.168.1.5", "128.0.0.1", "fe80::1", "localhost.example"])
    func reachableBindAddress(_ address: String) { #expect(!LoopbackAddress.isLocalOnly(bindAddress: address)) }
}

/// The reply `lines` complete (nil if they do not end one).
func parsedReply(_ lines: [String]) -> FTPReply? {
    var parser = ReplyParser()
    var reply: FTPReply?
    for line in lines { reply = parser.feed(line: Array(line.utf8)) }
    return reply
}
