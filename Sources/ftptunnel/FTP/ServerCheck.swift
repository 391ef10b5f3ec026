import Foundation
import Posix
import Logging
import FTPCore
import TunnelCore

/// `ftptunnel check`'s probes, in two tunnels brought up one after the other:
/// 1. fixed mode, control only (plus the profile's PassivePorts when it is a fixed-mode profile): banner, FEAT,
///    login, and the raw EPSV and PASV replies — exactly what the server advertises; in fixed-mode profiles also a
///    LIST over that PASV reply;
/// 2. rewrite mode: a LIST over EPSV and one over PASV.
/// SSH failures (host key, authentication, connection) of the first tunnel are thrown as the tunnel threw them.
struct ServerCheck {
    let settings: TunnelSettings
    /// FTP login name; nil: anonymous.
    let ftpUser: String?
    let password: FTPPasswordSource
    let logger: Logger
    var timeouts = FTPProbeClient.Timeouts()
    /// Builds each of the check's tunnels (the same `Tunnel` that `connect` runs).
    /// Its connections are the check's own: their lines stay at -v in either mode.
    var makeTunnel: @Sendable (TunnelSettings, Logger) -> Tunnel = { Tunnel(settings: $0, logger: $1, ownConnections: true) }

    static let anonymousUser = "anonymous"

    /// How log lines name the check's tunnels.
    static func tunnelName(_ mode: TunnelSettings.Mode) -> String { "the check's \(mode.rawValue)-mode tunnel" }

    /// What phase 1 learnt.
    private struct ControlFindings {
        var banner: FTPReply
        var feat: FTPReply?
        var epsv: FTPReply?
        var pasv: FTPReply?
        var rest: FTPReply?
        var fixedList: ServerDiagnosis.ListResult
    }

    func run() throws -> ServerDiagnosis {
        let control = try inspectControlConnection()
        var diagnosis = ServerDiagnosis(
            ftpHost: settings.ftpHost, localHost: Self.probeBindAddress(settings.bindAddress), localPort: connectLocalPort,
            banner: control.banner, feat: control.feat,
            epsv: .init(reply: control.epsv, list: .notTried), pasv: .init(reply: control.pasv, list: .notTried))
        diagnosis.fixedList = control.fixedList
        diagnosis.rest = control.rest
        diagnosis.configuredMode = settings.mode
        diagnosis.localPassivePorts = settings.passivePorts.map { "\($0)" }
        probeRewriteMode(into: &diagnosis)
        return diagnosis
    }

    /// Where the check's own tunnels listen: loopback when the settings bind a wildcard address (the check's ports
    /// need not be reachable from elsewhere); otherwise the address the user chose, which clients will use.
    static func probeBindAddress(_ configured: String) -> String {
        switch configured {
        case "0.0.0.0", "": return "127.0.0.1"
        case "::", "[::]": return "::1"
        default: return configured
        }
    }

    /// Settings for one of the check's tunnels: `mode`, an ephemeral control port, the probe bind address.
    private func probeSettings(mode: TunnelSettings.Mode) -> TunnelSettings {
        var probe = settings
        probe.mode = mode
        probe.localPort = 0
        probe.bindAddress = Self.probeBindAddress(settings.bindAddress)
        return probe
    }

    /// The control port `ftptunnel connect` will most likely listen on (the check itself uses an ephemeral one).
    private var connectLocalPort: Int {
        settings.localPort ?? (PosixIdentity.userID == 0 ? Tunnel.preferredControlPort : Tunnel.fallbackControlPort)
    }

    // MARK: Phase 1

    private var probesFixedMode: Bool { settings.mode == .fixed && settings.passivePorts != nil }

    private func inspectControlConnection() throws -> ControlFindings {
        var fixedList = ServerDiagnosis.ListResult.notTried
        var fixedRange: PortRange?
        let (tunnel, ready): (BackgroundTunnel, TunnelReady)
        if probesFixedMode, let range = settings.passivePorts {
            do {
                (tunnel, ready) = try BackgroundTunnel.start(makeTunnel(probeSettings(mode: .fixed), logger), name: Self.tunnelName(.fixed), logger: logger)
                fixedRange = range
            } catch TunnelError.bindFailed(let address, let port, let reason) {
                fixedList = .failed("PassivePorts \(range) cannot be bound here (\(address):\(port): \(reason)), e.g. while "
                    + "`ftptunnel connect` runs; stop it to test fixed mode")
                (tunnel, ready) = try startControlTunnel()
            }
        } else {
            (tunnel, ready) = try startControlTunnel()
        }
        defer { tunnel.stop() }
        logger.info("check: control tunnel ready at \(ready.url)")

        let client = try FTPProbeClient(host: ready.bindAddress, port: ready.localPort, timeouts: timeouts, logger: logger)
        defer { client.quit() }
        let banner: FTPReply
        do {
            banner = try client.readBanner()
        } catch FTPProbeError.closedByServer {
            throw ServerCheckError.noFTPServer(host: settings.ftpHost, port: settings.ftpPort)
        }
        let featReply = try client.command("FEAT")
        try client.logIn(user: ftpUser ?? Self.anonymousUser, password: password.password)
        // REST 0 only sets the next transfer's start to 0: harmless, and 350 says resuming works.
        let rest = try client.command("REST 0")
        let epsv = try client.command("EPSV")
        let pasv = try client.command("PASV")
        if let range = fixedRange {
            fixedList = pasv.code == ReplyCode.enteringPassive
                ? client.list(over: pasv, allowedPorts: range)
                : .failed("PASV was refused")
        }
        return ControlFindings(banner: banner, feat: featReply.code / 100 == 2 ? featReply : nil, epsv: epsv, pasv: pasv,
                               rest: rest, fixedList: fixedList)
    }

    /// A fixed-mode tunnel without passive ports forwards the control connection only.
    private func startControlTunnel() throws -> (BackgroundTunnel, TunnelReady) {
        var fixed = probeSettings(mode: .fixed)
        fixed.passivePorts = nil
        return try BackgroundTunnel.start(makeTunnel(fixed, logger), name: Self.tunnelName(.fixed), logger: logger)
    }

    // MARK: Phase 2

    /// Never throws: whatever goes wrong here is a finding about rewrite mode, reported next to phase 1's results.
    private func probeRewriteMode(into diagnosis: inout ServerDiagnosis) {
        let rewrite = probeSettings(mode: .rewrite)
        let tunnel: BackgroundTunnel
        let ready: TunnelReady
        do {
            (tunnel, ready) = try BackgroundTunnel.start(makeTunnel(rewrite, logger), name: Self.tunnelName(.rewrite), logger: logger)
        } catch {
            let reason = ServerDiagnosis.ListResult.failed("the rewrite-mode tunnel did not start: \(error)")
            diagnosis.epsv.list = reason
            diagnosis.pasv.list = reason
            return
        }
        defer { tunnel.stop() }
        logger.info("check: rewrite tunnel ready at \(ready.url)")
        var epsv = ServerDiagnosis.ListResult.notTried
        var pasv = ServerDiagnosis.ListResult.notTried
        var epsvProbed = false
        var listenerFailure: String?
        defer { diagnosis.tunnelListenerFailure = listenerFailure }
        do {
            let client = try FTPProbeClient(host: ready.bindAddress, port: ready.localPort, timeouts: timeouts, logger: logger)
            defer { client.quit() }
            _ = try client.readBanner()
            try client.logIn(user: ftpUser ?? Self.anonymousUser, password: password.password)
            epsv = try probe(client, "EPSV", expecting: ReplyCode.enteringExtendedPassive, listenerFailure: &listenerFailure)
            epsvProbed = true
            pasv = try probe(client, "PASV", expecting: ReplyCode.enteringPassive, listenerFailure: &listenerFailure)
        } catch {
            let failure = ServerDiagnosis.ListResult.failed("the control connection through the rewrite-mode tunnel failed: \(error)")
            if !epsvProbed { epsv = failure }
            pasv = failure
        }
        diagnosis.epsv.list = epsv
        diagnosis.pasv.list = pasv
    }

    /// One passive command and a LIST over its reply; `.notTried` when the server refuses the command.
    /// `listenerFailure`: set when the tunnel itself (not the server) answered 425: no local data port.
    private func probe(_ client: FTPProbeClient, _ command: String, expecting code: Int,
                       listenerFailure: inout String?) throws -> ServerDiagnosis.ListResult {
        let reply = try client.command(command)
        if ServerDiagnosis.isTunnelListenerFailure(reply) {
            listenerFailure = reply.lines.first
            return .failed("the tunnel could not open a local data listener")
        }
        guard reply.code == code else {
            return reply.code >= 400 ? .notTried : .failed("unexpected reply \"\(reply.lines.first ?? "")\"")
        }
        return client.list(over: reply)
    }
}

enum ServerCheckError: Error, CustomStringConvertible {
    case noFTPServer(host: String, port: Int)

    var description: String {
        switch self {
        case .noFTPServer(let host, let port):
            return "no FTP server answered at \(host):\(port) as seen from the SSH server; check FTPHost/FTPPort "
                + "(--ftp-host, --ftp-port) and that the SSH server allows forwarding there (AllowTcpForwarding, PermitOpen)"
        }
    }
}
