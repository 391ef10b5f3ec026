import Foundation
import Logging
import FTPCore
import TunnelCore

/// `ftptunnel check` for `Mode sftp` settings: the SFTP probe, then the bridge itself on an ephemeral local port
/// and a LIST of `/` through it over EPSV.
struct BridgeCheck {
    let settings: TunnelSettings
    let logger: Logger

    /// The report and whether a listing through the bridge worked.
    func run() -> (report: String, worked: Bool) {
        let finding = SFTPProbe(settings: settings, logger: logger).run()
        var lines = finding.reportLines(sftpRoot: settings.sftpRoot)
        guard finding.bridgeFits else {
            lines.append("Mode sftp: does not fit this server with these settings.")
            return (lines.joined(separator: "\n") + "\n", false)
        }
        let list = listThroughBridge()
        switch list {
        case .worked:
            lines.append("Mode sftp: EPSV + LIST through the bridge works; point any FTP client at the ready line's URL (any user name, no password).")
        case .failed(let reason):
            lines.append("Mode sftp: EPSV + LIST through the bridge failed: \(reason)")
        case .notTried:
            lines.append("Mode sftp: the listing was not tried.")
        }
        return (lines.joined(separator: "\n") + "\n", list == .worked)
    }

    private func listThroughBridge() -> ServerDiagnosis.ListResult {
        var probe = settings
        probe.localPort = 0
        do {
            let (tunnel, ready) = try BackgroundTunnel.start(Tunnel(settings: probe, logger: logger),
                                                             name: "the check's SFTP bridge", logger: logger)
            defer { tunnel.stop() }
            let client = try FTPProbeClient(host: ready.bindAddress, port: ready.localPort, logger: logger)
            defer { client.quit() }
            _ = try client.readBanner()
            try client.logIn(user: ServerCheck.anonymousUser, password: { nil })
            let reply = try client.command("EPSV")
            guard reply.code == ReplyCode.enteringExtendedPassive else {
                return .failed("EPSV refused: \(reply.lines.first ?? "")")
            }
            return client.list(over: reply)
        } catch {
            return .failed("\(error)")
        }
    }
}
