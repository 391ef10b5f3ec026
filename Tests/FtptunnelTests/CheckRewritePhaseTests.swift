import Foundation
import Logging
import Shared
import Testing
import TestSupport
@testable import ftptunnel

/// The check's rewrite-mode phase in-process against a real sshd and vsftpd, until the tunnel has a rewrite mode of
/// its own: the check's "rewrite" tunnel is a fixed-mode `Tunnel` whose control connection runs Shared's
/// `ControlStreamFilter` through the tunnel's filter hook (passive replies only, which is all the check sends).
/// The CLI tests in CheckCommandTests cover the same ground through the real rewrite mode.
@Suite(.serialized) struct CheckRewritePhaseTests {
    /// Adapts the pure filter to the loop's `StreamFilter` for PASV/EPSV: listeners are opened synchronously.
    final class PassiveRewriteAdapter: StreamFilter, @unchecked Sendable {
        private let control: ForwardingControl
        private let ftpHost: String
        private var filter: ControlStreamFilter
        private var toServer: [UInt8] = []
        private var toClient: [UInt8] = []

        init(control: ForwardingControl, ftpHost: String) {
            self.control = control
            self.ftpHost = ftpHost
            filter = ControlStreamFilter(.init(ftpHost: ftpHost))
        }

        func clientToServer(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
            perform(filter.clientBytes(Array(bytes)))
            defer { toServer = [] }
            return toServer
        }

        func serverToClient(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
            perform(filter.serverBytes(Array(bytes)))
            defer { toClient = [] }
            return toClient
        }

        private func perform(_ actions: [ControlStreamFilter.Action]) {
            var queue = actions
            while !queue.isEmpty {
                switch queue.removeFirst() {
                case .sendToServer(let bytes): toServer += bytes
                case .sendToClient(let bytes): toClient += bytes
                case .openPassiveListener(let id, let target, _):
                    do {
                        let port = try control.addOneShotListener(target: ForwardTarget(host: target.host ?? ftpHost, port: target.port), range: nil)
                        queue.insert(contentsOf: filter.listenerOpened(id, localPort: port), at: 0)
                    } catch {
                        queue.insert(contentsOf: filter.listenerFailed(id, reason: "\(error)"), at: 0)
                    }
                case .connectActive(let id, _, _):
                    queue.insert(contentsOf: filter.activeConnectFailed(id, reason: "active mode is not used by the check"), at: 0)
                case .releaseData, .log:
                    break
                }
            }
        }
    }

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

    /// Runs the whole check; its rewrite-mode tunnel is the stand-in described above.
    static func check(_ settings: TunnelSettings) throws -> ServerDiagnosis {
        let logger = Logger(label: "check-rewrite-phase-test")
        let check = ServerCheck(settings: settings, ftpUser: nil, password: FTPPasswordSource(user: "anonymous"),
                                logger: logger, makeTunnel: { settings, logger in
            guard settings.mode == .rewrite else { return Tunnel(settings: settings, logger: logger) }
            var standIn = settings
            standIn.mode = .fixed
            let unused = (try? ServerCheck.unusedPort(on: settings.bindAddress)) ?? 0
            standIn.passivePorts = PortRange(lower: unused, upper: unused)
            let tunnel = Tunnel(settings: standIn, logger: logger)
            tunnel.controlFilter = { control in PassiveRewriteAdapter(control: control, ftpHost: settings.ftpHost) }
            return tunnel
        })
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
