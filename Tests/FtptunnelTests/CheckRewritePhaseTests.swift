import Foundation
import Logging
import FTPCore
import TunnelCore
import Testing
import TestSupport
@testable import ftptunnel

/// The whole check in-process (both phases, the rewrite phase through the tunnel's real rewrite mode) against a
/// real sshd and vsftpd. The CLI tests in CheckCommandTests cover the same ground through the binary.
@Suite(.serialized) struct CheckRewritePhaseTests {
    /// Settings as the resolver would produce them for this sshd and FTP server.
    static func settings(_ sshd: SSHDFixture, knownHosts: String, ftpPort: Int) -> TunnelSettings {
        var settings = TunnelSettings(sshHost: sshd.host, user: sshd.user)
        settings.sshPort = sshd.port
        settings.identityFiles = [sshd.userKey]
        settings.identitiesOnly = true
        settings.knownHostsFiles = [knownHosts]
        settings.strictHostKeyChecking = .yes
        settings.ftpHost = LoopbackNet.serverSide
        settings.ftpPort = ftpPort
        settings.localPort = 2121
        return settings
    }

    /// Runs the whole check with the product's tunnels.
    static func check(_ settings: TunnelSettings) throws -> ServerDiagnosis {
        let logger = Logger(label: "check-rewrite-phase-test")
        let check = ServerCheck(settings: settings, ftpUser: nil, password: FTPPasswordSource(user: "anonymous"),
                                logger: logger, makeTunnel: { settings, logger in Tunnel(settings: settings, logger: logger) })
        return try check.run()
    }

    @Test func stockVsftpdFitsRewriteModeOnly() throws {
        let sshd = try SSHDFixture()
        let work = try TempDirectory("check-rewrite")
        let root = try TempDirectory("check-rewrite-root")
        try TestFiles.random(at: root.file("listed.bin"), size: 1000)
        let vsftpd = try VsftpdFixture(root: root.path)
        let diagnosis = try Self.check(Self.settings(sshd, knownHosts: try sshd.writeKnownHosts(in: work), ftpPort: vsftpd.port))
        #expect(diagnosis.epsv.list == .worked)
        #expect(diagnosis.pasv.list == .worked)
        #expect(diagnosis.advertisedAddress == .otherLoopback("127.0.0.2"))
        #expect(diagnosis.recommendedMode == .rewrite)
        let report = diagnosis.report()
        #expect(report.contains("EPSV + LIST: works (server said \"229 Entering Extended Passive Mode (|||"), "\(report)")
        #expect(report.contains("PASV + LIST: works (server said \"227 Entering Passive Mode (127,0,0,2,"), "\(report)")
        #expect(report.contains("Mode: rewrite fits"), "\(report)")
        #expect(report.contains("fixed does not fit: it needs a server that advertises 127.0.0.1"), "\(report)")
        #expect(report.contains("curl ftp://127.0.0.1:2121/PATH "), "\(report)")
        #expect(diagnosis.anyDataPathWorks)
    }

    @Test func recipeVsftpdFitsBothModes() throws {
        let sshd = try SSHDFixture()
        let work = try TempDirectory("check-rewrite")
        let root = try TempDirectory("check-rewrite-root")
        let vsftpd = try VsftpdFixture(root: root.path, pasvAddress: "127.0.0.1")
        var settings = Self.settings(sshd, knownHosts: try sshd.writeKnownHosts(in: work), ftpPort: vsftpd.port)
        settings.mode = .fixed
        settings.passivePorts = PortRange(lower: vsftpd.passivePorts.lowerBound, upper: vsftpd.passivePorts.upperBound)
        let diagnosis = try Self.check(settings)
        #expect(diagnosis.epsv.list == .worked)
        #expect(diagnosis.pasv.list == .worked)
        #expect(diagnosis.fixedList == .worked)
        let report = diagnosis.report()
        #expect(report.contains("Mode: rewrite fits"), "\(report)")
        #expect(report.contains("fixed fits: a LIST worked through the fixed-mode tunnel"), "\(report)")
    }
}
