import FTPCore
import TunnelCore
import Testing

/// The parts of `ServerDiagnosis` that `ftptunnel check` adds: the fixed-mode LIST beside the rewrite-mode probes.
@Suite struct CheckDiagnosisTests {
    static let recipePASV = reply("227 Entering Passive Mode (127,0,0,1,156,65).")
    static let stockPASV = reply("227 Entering Passive Mode (127,0,0,2,156,65).")
    static let epsv = reply("229 Entering Extended Passive Mode (|||40001|)")

    static func reply(_ line: String) -> FTPReply { FTPReply(code: Int(line.prefix(3))!, lines: [line]) }

    func diagnosis(pasv: FTPReply, epsvList: ServerDiagnosis.ListResult, pasvList: ServerDiagnosis.ListResult,
                   fixed: ServerDiagnosis.ListResult) -> ServerDiagnosis {
        var d = ServerDiagnosis(ftpHost: "127.0.0.2", localPort: 2121, banner: Self.reply("220 (vsFTPd 3.0.3)"), feat: nil,
                                epsv: .init(reply: Self.epsv, list: epsvList), pasv: .init(reply: pasv, list: pasvList))
        d.fixedList = fixed
        return d
    }

    @Test func fixedListFailingAgainstAStockServer() {
        let d = diagnosis(pasv: Self.stockPASV, epsvList: .worked, pasvList: .worked,
                          fixed: .failed("the reply points to 127.0.0.2:40001, not to the tunnel's 127.0.0.1"))
        #expect(d.anyDataPathWorks)
        #expect(d.recommendedMode == .rewrite)
        let report = d.report()
        #expect(report.contains("PASV + LIST in fixed mode: failed: the reply points to 127.0.0.2:40001"))
        #expect(report.contains("Mode: rewrite fits"))
        #expect(report.contains("fixed does not fit with these settings"))
        #expect(report.contains("(active mode with -P - works too)"))
    }

    @Test func rewriteFailingButFixedWorking() {
        let d = diagnosis(pasv: Self.recipePASV, epsvList: .failed("timed out reading the listing"),
                          pasvList: .failed("timed out reading the listing"), fixed: .worked)
        #expect(d.anyDataPathWorks)
        #expect(!d.rewriteFits)
        #expect(d.recommendedMode == .fixed)
        let report = d.report()
        #expect(report.contains("Mode: rewrite did not work through the tunnel (see above)."))
        #expect(report.contains("PASV + LIST in fixed mode: works (server said \"227 Entering Passive Mode (127,0,0,1,156,65).\")"))
        #expect(report.contains("fixed fits: a LIST worked through the fixed-mode tunnel"))
        #expect(report.contains("passive mode only: fixed mode cannot carry active mode"))
        #expect(!report.contains("-P -"))
    }

    @Test func nothingWorks() {
        let d = diagnosis(pasv: Self.stockPASV, epsvList: .failed("connection refused"), pasvList: .failed("connection refused"),
                          fixed: .notTried)
        #expect(!d.anyDataPathWorks)
        #expect(d.recommendedMode == nil)
        let report = d.report()
        #expect(!report.contains("in fixed mode"))
        #expect(!report.contains("Client settings"))
        #expect(report.contains("fixed does not fit: it needs a server that advertises 127.0.0.1"))
    }

    @Test func refusedEPSVIsReportedAsRefused() {
        var d = diagnosis(pasv: Self.recipePASV, epsvList: .notTried, pasvList: .notTried, fixed: .notTried)
        d.epsv = .init(reply: Self.reply("500 Unknown command."), list: .notTried)
        #expect(d.report().contains("EPSV + LIST: refused by the server (server said \"500 Unknown command.\")"))
    }
}
