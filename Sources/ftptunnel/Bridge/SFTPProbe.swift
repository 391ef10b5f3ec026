import Foundation
import Logging
import TunnelCore

/// `ftptunnel check`'s SFTP probe: one SSH session (host key verified, authenticated as `connect` would), the
/// SFTP subsystem started and SFTPRoot resolved, then closed.
struct SFTPProbe {
    let settings: TunnelSettings
    let logger: Logger

    func run() -> SFTPFinding {
        let session: SSHSession
        let credential: SSHCredential
        do {
            (session, _, credential) = try SSHConnector(settings: settings, logger: logger).connectFirst()
        } catch {
            return .notChecked(reason: "\(error)")
        }
        defer { session.disconnect(reason: "check finished") }
        session.setTimeout(seconds: SFTPBridge.sshTimeout)
        do {
            let root = try SFTPBridge.resolveRoot(on: session, settings: settings)
            return .offered(root: String(decoding: root, as: UTF8.self), reusableLogin: credential.isReusable)
        } catch BridgeError.noSFTP(_, let reason) {
            return .notOffered(reason: reason)
        } catch BridgeError.rootUnusable(let root, let reason) {
            return .rootUnusable(root: root, reason: reason)
        } catch {
            return .notOffered(reason: "\(error)")
        }
    }
}
