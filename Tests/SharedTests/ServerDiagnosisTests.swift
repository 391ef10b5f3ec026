import Testing
@testable import FTPCore
@testable import TunnelCore

@Suite struct ServerDiagnosisTests {
    static let vsftpdFeat = FTPReply(code: 211, lines: ["211-Features:", " EPRT", " EPSV", " MDTM", " PASV", " REST STREAM", " SIZE", " TVFS", "211 End"])
    static let proftpdFeat = FTPReply(code: 211, lines: ["211-Features:", " AUTH TLS", " PBSZ", " PROT", " EPSV", " EPRT", " MLSD", "211 End"])

    func diagnosis(banner: String = "220 (vsFTPd 3.0.3)", feat: FTPReply? = vsftpdFeat,
                   epsv: ServerDiagnosis.DataProbe, pasv: ServerDiagnosis.DataProbe) -> ServerDiagnosis {
        ServerDiagnosis(ftpHost: "127.0.0.1", localPort: 2121, banner: FTPReply(code: 220, lines: [banner]), feat: feat,
                        epsv: epsv, pasv: pasv)
    }

    static func reply(_ line: String) -> FTPReply { parsedReply([line])! }

    @Test func stockVsftpdAdvertisingItsOwnLoopback() {
        let d = diagnosis(epsv: .init(reply: Self.reply("229 Entering Extended Passive Mode (|||40001|)"), list: .worked),
                          pasv: .init(reply: Self.reply("227 Entering Passive Mode (127,0,0,2,156,66)."), list: .worked))
        #expect(d.serverSoftware == "vsftpd")
        #expect(d.features == ["EPRT", "EPSV", "MDTM", "PASV", "REST STREAM", "SIZE", "TVFS"])
        #expect(d.advertisedAddress == .otherLoopback("127.0.0.2"))
        #expect(d.recommendedMode == .rewrite)
        #expect(!d.fixedCanFit)
        let report = d.report()
        #expect(report.contains("EPSV + LIST: works"))
        #expect(report.contains("PASV + LIST: works"))
        #expect(report.contains("127.0.0.2 in its 227 replies: the server's own loopback address, which is wrong from the client side"))
        #expect(report.contains("Mode: rewrite fits"))
        #expect(report.contains("fixed does not fit"))
        #expect(report.contains("curl ftp://127.0.0.1:2121/PATH "))
        #expect(!report.contains("--disable-epsv"))
        #expect(report.contains("lftp -e 'set ftp:ssl-allow no; set ftp:passive-mode on' -p 2121 127.0.0.1"))
        #expect(report.contains("FileZilla: Site Manager → Protocol FTP, Host 127.0.0.1, Port 2121"))
        #expect(report.contains("WinSCP:    File protocol FTP"))
    }

    @Test func privateAddressAndNoEPSV() {
        let d = diagnosis(banner: "220 ProFTPD Server (Debian) [10.0.0.5]", feat: nil,
                          epsv: .init(reply: Self.reply("500 EPSV not understood"), list: .notTried),
                          pasv: .init(reply: Self.reply("227 Entering Passive Mode (10,0,0,5,195,149)."), list: .worked))
        #expect(d.serverSoftware == "ProFTPD")
        #expect(d.advertisedAddress == .privateNetwork("10.0.0.5"))
        let report = d.report()
        #expect(report.contains("Features: the server did not answer FEAT"))
        #expect(report.contains("EPSV + LIST: refused by the server (server said \"500 EPSV not understood\")"))
        #expect(report.contains("the private address 10.0.0.5 in its 227 replies, which is wrong from the client side"))
        #expect(report.contains("--disable-epsv"))
        #expect(report.contains("set ftp:prefer-epsv no"))
    }

    @Test func serverAdvertisingTheLocalAddressFitsFixedModeForFTPS() {
        let d = diagnosis(banner: "220 pasvd ready", feat: Self.proftpdFeat,
                          epsv: .init(reply: Self.reply("229 (|||40001|)"), list: .worked),
                          pasv: .init(reply: Self.reply("227 Entering Passive Mode (127,0,0,1,156,65)."), list: .worked))
        #expect(d.advertisesTLS)
        #expect(d.fixedCanFit)
        #expect(d.recommendedMode == .rewrite)
        let report = d.report()
        #expect(report.contains("fixed also fits if PassivePorts covers the server's passive port range; use it if you need FTPS"))
        #expect(report.contains("clients get 534"))
    }

    @Test func nothingWorks() {
        let d = diagnosis(epsv: .init(reply: Self.reply("229 (|||40001|)"), list: .failed("the data connection timed out")),
                          pasv: .init(reply: Self.reply("227 Entering Passive Mode (203,0,113,7,156,65)."), list: .failed("connection refused")))
        #expect(d.advertisedAddress == .publicAddress("203.0.113.7"))
        #expect(d.recommendedMode == nil)
        let report = d.report()
        #expect(report.contains("EPSV + LIST: failed: the data connection timed out"))
        #expect(report.contains("no data connection worked through the tunnel. Check that FTPHost (127.0.0.1)"))
        #expect(!report.contains("Client settings"))
    }

    @Test func unusualAnnouncements() {
        let zero = diagnosis(epsv: .notTried, pasv: .init(reply: Self.reply("227 Entering Passive Mode (0,0,0,0,156,65)"), list: .worked))
        #expect(zero.advertisedAddress == .unspecified)
        #expect(zero.report().contains("0.0.0.0 in its 227 replies"))
        let unreadable = diagnosis(epsv: .notTried, pasv: .init(reply: Self.reply("227 Entering Passive Mode"), list: .notTried))
        #expect(unreadable.advertisedAddress == nil)
        #expect(unreadable.report().contains("a 227 reply ftptunnel cannot read"))
        let untried = diagnosis(epsv: .notTried, pasv: .notTried)
        #expect(untried.report().contains("no PASV address"))
        #expect(untried.serverSoftware == "vsftpd")
        #expect(ServerDiagnosis(ftpHost: "h", localPort: 21, banner: nil, feat: nil, epsv: .notTried, pasv: .notTried).serverSoftware == nil)
    }

    @Test(arguments: [("172.16.0.1", true), ("172.32.0.1", false), ("192.168.0.1", true), ("100.64.1.1", true), ("8.8.8.8", false)])
    func privateRanges(_ host: String, _ isPrivate: Bool) {
        let numbers = host.split(separator: ".").joined(separator: ",")
        let d = diagnosis(epsv: .notTried, pasv: .init(reply: Self.reply("227 Entering Passive Mode (\(numbers),1,1)"), list: .worked))
        #expect(d.advertisedAddress == (isPrivate ? .privateNetwork(host) : .publicAddress(host)))
    }

    @Test func printsAReadableReport() {
        let d = diagnosis(epsv: .init(reply: Self.reply("229 Entering Extended Passive Mode (|||40001|)"), list: .worked),
                          pasv: .init(reply: Self.reply("227 Entering Passive Mode (127,0,0,2,156,66)."), list: .worked))
        print(d.report())
        #expect(d.report().hasSuffix("\n"))
        #expect(d.report().split(separator: "\n").allSatisfy { !$0.contains("\r") })
    }
}

/// The check's wording: a local port clash, fixed-mode advice, unnamed servers, resuming.
@Suite struct ServerDiagnosisWordingTests {
    static func reply(_ line: String) -> FTPReply { parsedReply([line])! }

    func diagnosis(banner: String, epsv: ServerDiagnosis.DataProbe, pasv: ServerDiagnosis.DataProbe) -> ServerDiagnosis {
        ServerDiagnosis(ftpHost: "127.0.0.2", localPort: 2121, banner: FTPReply(code: 220, lines: [banner]),
                        feat: ServerDiagnosisTests.vsftpdFeat, epsv: epsv, pasv: pasv)
    }

    @Test func aLocalDataPortClashIsNamedAsSuchWithTheOption() {
        let clash = Self.reply(FilterReply.listenerFailed("no free port in PassivePorts 40000-40009 on this machine (127.0.0.1:40003: Address already in use)"))
        var d = diagnosis(banner: "220 (vsFTPd 3.0.3)", epsv: .init(reply: clash, list: .notTried), pasv: .init(reply: clash, list: .notTried))
        d.localPassivePorts = "40000-40009"
        #expect(d.localListenerFailed)
        let report = d.report()
        #expect(report.contains("EPSV + LIST: refused by the tunnel itself: it could not open a local data listener"), "\(report)")
        #expect(report.contains("--passive-ports/PassivePorts 40000-40009 on this machine"), "\(report)")
        #expect(!report.contains("Check that FTPHost"), "\(report)")
        // Every bracket the report opens, it closes: no text is cut in the middle.
        #expect(report.filter { $0 == "(" }.count == report.filter { $0 == ")" }.count, "\(report)")
        #expect(!report.contains("…"), "\(report)")
    }

    @Test func fixedModeAdviceDoesNotOfferActiveMode() {
        var d = diagnosis(banner: "220 pasvd ready", epsv: .init(reply: Self.reply("229 (|||40001|)"), list: .worked),
                          pasv: .init(reply: Self.reply("227 Entering Passive Mode (127,0,0,1,156,65)."), list: .worked))
        #expect(d.report().contains("(active mode with -P - works too)"))
        d.configuredMode = .fixed
        #expect(!d.report().contains("-P -"))
        #expect(d.report().contains("(passive mode only: fixed mode cannot carry active mode)"))
    }

    @Test func aServerThatDoesNotNameItself() {
        let d = diagnosis(banner: "220 Welcome", epsv: .init(reply: Self.reply("229 (|||40001|)"), list: .worked), pasv: .notTried)
        let report = d.report()
        #expect(!report.contains("Server: at"), "\(report)")
        #expect(report.contains("Server: 127.0.0.2 (as seen from the SSH server; its banner does not name the software), banner \"220 Welcome\""), "\(report)")
    }

    @Test func resumingIsReported() {
        var d = diagnosis(banner: "220 (vsFTPd 3.0.3)", epsv: .init(reply: Self.reply("229 (|||40001|)"), list: .worked), pasv: .notTried)
        #expect(!d.report().contains("Resume:"))
        d.rest = Self.reply("350 Restart position accepted (0).")
        #expect(d.canResume == true)
        #expect(d.report().contains("Resume: supported (REST)"))
        d.rest = Self.reply("502 Command not implemented.")
        #expect(d.canResume == false)
        #expect(d.report().contains("Resume: not supported: the server answered REST with \"502 Command not implemented.\""), "\(d.report())")
    }
}
