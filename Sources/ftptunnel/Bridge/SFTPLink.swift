import FTPServerKit
import Foundation
import Logging
import Posix

/// The SFTP channel (on a shared SSH session, `SharedSessions`) beneath one FTP session of the bridge, replaced when
/// the SSH session dies, so the FTP session (its directory, TYPE, pending RNFR) outlives it.
///
/// A dead session is noticed at once when it is marked lost (between commands through `IdleWatch` on the gate's
/// lost descriptor, set by the session's watcher on the server's end of stream or by any channel's connection
/// error), before every command by a look at the socket, by a call failing with a connection error, or by
/// ServerAlive: after `ServerAliveInterval` seconds without a command, a probe (an SFTP realpath, whose answer
/// libssh2 reads, unlike a keepalive reply that would stay queued) must be answered within interval × CountMax.
///
/// A replacement follows the tunnel's rules (`ReconnectSchedule`): first attempt at once, then backoff; the host
/// key must be the one verified at start and the credential is replayed without a prompt (`SSHConnector.connectAnother`);
/// after a refused host key or credential nothing is tried again. A command waits at most `policy.waitForSession`
/// seconds (plus one connect) for it; then the store answers 421. One thread (the FTP session's) uses the link.
final class SFTPLink: IdleWatch, SFTPChannelSpares {
    /// Opens a new SFTP channel on a live SSH session (and sweeps upload leftovers on it).
    typealias Opener = () throws -> SFTPSession
    /// Tells the shared sessions that this FTP session no longer uses its channel's SSH session.
    typealias Releaser = (SSHSession) -> Void

    private let open: Opener
    private let release: Releaser
    /// The SSH session this FTP session counts on (released on loss and at `close()`).
    private var leased: SSHSession?
    /// nil: `Reconnect no`, a lost session ends the FTP session (421).
    private let policy: ReconnectPolicy?
    private let aliveInterval: Double
    private let aliveCountMax: Int
    /// Readable once the bridge stops: a reconnect's backoff wait ends.
    private let stopFD: Int32
    let logger: Logger
    private(set) var sftp: SFTPSession? {
        didSet { if sftp?.session !== spares.first?.session { spares = [] } }
    }
    /// More SFTP channels of the current SSH session, kept for striped uploads (`SFTPStripedWriter`); forgotten
    /// with the session.
    private var spares: [SFTPRawChannel] = []
    var lacksPosixRename = false
    /// Files to cut before the next command on a new SSH session (`cutWhenConnected`).
    private var pendingCuts: [(path: [UInt8], size: UInt64)] = []
    /// Why no session can come back (another host key, refused credentials): every later command gets 421.
    private var fatal: Error?
    /// Last time the server was heard from (a command or probe answered), monotonic seconds.
    private var lastHeard = Monotonic.now()
    /// Sessions replaced so far.
    private(set) var replacements = 0

    init(first: SFTPSession, policy: ReconnectPolicy?, aliveInterval: Int, aliveCountMax: Int, stopFD: Int32,
         logger: Logger, open: @escaping Opener, release: @escaping Releaser = { _ in }) {
        sftp = first
        leased = first.session
        self.release = release
        self.policy = policy
        self.aliveInterval = Double(max(0, aliveInterval))
        self.aliveCountMax = max(1, aliveCountMax)
        self.stopFD = stopFD
        self.logger = logger
        self.open = open
    }

    // MARK: Commands

    /// Runs `body` on a working channel, replacing a dead session first. When the connection breaks during `body`,
    /// a `repeatable` body (it only reads) runs once more on a new session; any other throws `ECONNABORTED` (the
    /// engine answers 451 and never repeats it). Throws `ECONNRESET` (421) when no session comes back in time.
    func run<T>(repeatable: Bool, _ body: (SFTPSession) throws(FileStoreError) -> T) throws(FileStoreError) -> T {
        var channel = try working()
        do {
            let result = try body(channel)
            lastHeard = Monotonic.now()
            return result
        } catch {
            guard channel.isConnectionLost else { throw error }
            drop("a call failed: \(error)")
            guard repeatable else { throw SFTPLink.lostDuringCommand }
        }
        channel = try working()
        do {
            return try body(channel)
        } catch {
            if channel.isConnectionLost { drop("a call failed again: \(error)"); throw SFTPLink.lostDuringCommand }
            throw error
        }
    }

    /// The FTP session ended: its channels are shut down (each bounded by `SFTPSession.lostTimeout`, so a hung
    /// server does not hold the ending session) and its SSH session released.
    func close() {
        for spare in spares { spare.callTimeout = SFTPSession.lostTimeout }
        sftp?.callTimeout = SFTPSession.lostTimeout
        spares = []
        sftp = nil
        if let leased { release(leased) }
        leased = nil
    }

    /// The error a command gets when the connection broke while it ran.
    static let lostDuringCommand = FileStoreError.system(PosixError("the SSH connection to the SFTP server broke", code: ECONNABORTED))

    /// The current channel, or a new one when the session is dead (checked on its socket first).
    func working() throws(FileStoreError) -> SFTPSession {
        if let sftp, !sftp.isConnectionLost, sftp.session.gate.lost == nil, socketIsOpen(sftp) { return sftp }
        if let sftp { drop(sftp.isConnectionLost ? "a call failed" : "the server closed the connection") }
        return try reconnect()
    }

    /// A fresh SFTP channel on the current SSH session (after a failed write left the channel out of step); nil
    /// when the session itself is gone or the server refuses the channel.
    func reopenChannel() -> SFTPSession? {
        guard let current = sftp, !current.isConnectionLost, current.session.gate.lost == nil, socketIsOpen(current),
              let fresh = try? SFTPSession(session: current.session) else { return nil }
        sftp = fresh
        return fresh
    }

    // MARK: SFTPChannelSpares

    func takeSpare(on session: SSHSession) -> SFTPRawChannel? {
        guard session === sftp?.session, !spares.isEmpty else { return nil }
        return spares.removeLast()
    }

    func keepSpare(_ channel: SFTPRawChannel) {
        guard channel.session === sftp?.session, !channel.isDesynchronized, channel.isInitialized else { return }
        spares.append(channel)
    }

    func cutWhenConnected(_ path: [UInt8], to size: UInt64) {
        pendingCuts.append((path, size))
    }

    /// Applies the pending cuts on `channel`; a cut the server refuses for good (the file is gone) is dropped.
    private func applyPendingCuts(_ channel: SFTPSession) {
        pendingCuts = pendingCuts.filter { cut in
            do {
                try channel.setSize(cut.path, cut.size)
                logger.notice("cut \(String(decoding: cut.path, as: UTF8.self)) to \(cut.size) bytes, the end of what a failed striped upload wrote without a gap")
                return false
            } catch {
                return channel.isConnectionLost
            }
        }
    }

    // MARK: IdleWatch

    /// The shared session's lost descriptor, not its socket (other FTP sessions' traffic makes that readable).
    var descriptor: Int32? { sftp?.session.gate.lostDescriptor }

    var dueTime: Double {
        guard sftp != nil, aliveInterval > 0 else { return .infinity }
        return lastHeard + aliveInterval
    }

    /// Between commands: the socket became readable or closed, or a ServerAlive probe is due.
    func service() {
        guard let sftp else { return }
        if sftp.isConnectionLost || sftp.session.gate.lost != nil || !socketIsOpen(sftp) {
            drop(sftp.isConnectionLost ? "a call failed" : "the server closed the connection")
            if policy != nil, fatal == nil { _ = try? reconnect(attemptsUntil: Monotonic.now()) }
            return
        }
        // Something arrived (the server's own keepalive) or the interval passed: one request reads it all.
        let wait = max(aliveInterval * Double(aliveCountMax), Double(ServerAliveMonitor.shortestInterval))
        sftp.callTimeout = aliveInterval > 0 ? wait : SFTPBridge.sshTimeout
        defer { if !sftp.isConnectionLost { sftp.callTimeout = SFTPBridge.sshTimeout } }
        do {
            _ = try sftp.realPath([UInt8(ascii: ".")])
            lastHeard = Monotonic.now()
        } catch {
            guard sftp.isConnectionLost else { lastHeard = Monotonic.now(); return }
            if aliveInterval > 0 {
                logger.warning("the SSH server did not answer a ServerAlive probe within \(Int(wait)) s (ServerAliveInterval \(Int(aliveInterval)), ServerAliveCountMax \(aliveCountMax)): \(error)")
            }
            drop(aliveInterval > 0 ? "no answer to ServerAlive" : "a call failed: \(error)")
            if policy != nil, fatal == nil { _ = try? reconnect(attemptsUntil: Monotonic.now()) }
        }
    }

    // MARK: Session replacement

    /// False when the socket reports end of stream or an error (looked at without reading or blocking).
    private func socketIsOpen(_ sftp: SFTPSession) -> Bool {
        let fd = sftp.session.socket
        guard (try? PosixPoll.wait(fd, events: Int16(POLLIN) | PosixPoll.readHangUp, milliseconds: 0)) == true else { return true }
        var byte: UInt8 = 0
        let peeked = try? withUnsafeMutableBytes(of: &byte) { buffer throws(PosixError) in
            try PosixSocket.peek(fd, into: buffer)
        }
        switch peeked {
        case .done(let count)?: return count > 0
        case .wouldBlock?: return true
        case nil: return false
        }
    }

    /// Forgets the current session (its libssh2 calls bounded by `SFTPSession.lostTimeout`, nothing waits for the server).
    private func drop(_ reason: String) {
        guard let sftp else { return }
        logger.notice("SSH session of this FTP session lost (\(reason))\(policy == nil ? "; Reconnect is off" : "; replacing it")")
        // The kept stripe channels go first, each shutdown bounded by a short time-out (the server may be hung).
        for spare in spares { spare.callTimeout = SFTPLink.spareShutdownTimeout }
        spares = []
        sftp.callTimeout = SFTPSession.lostTimeout
        self.sftp = nil
        if let leased { release(leased) }
        leased = nil
    }

    /// Seconds each kept channel's shutdown may wait on a lost session.
    static let spareShutdownTimeout = 0.2

    /// Attempts under the tunnel's schedule until one works, one fails for good, or `waitForSession` passed.
    private func reconnect() throws(FileStoreError) -> SFTPSession {
        try reconnect(attemptsUntil: Monotonic.now() + (policy?.waitForSession ?? 0), patient: true)
    }

    /// As `reconnect()`, starting no attempt after `deadline` (the first one always starts); not `patient`: one
    /// attempt between commands.
    private func reconnect(attemptsUntil deadline: Double, patient: Bool = false) throws(FileStoreError) -> SFTPSession {
        if let fatal { throw SFTPLink.gone("\(fatal)") }
        guard let policy else { throw SFTPLink.gone("Reconnect is off") }
        var schedule = ReconnectSchedule(policy: policy, lostAt: Date(), random: Double.random(in: 0...1), immediately: true)
        while true {
            _ = schedule.startAttemptIfDue(now: Date())
            do {
                let fresh = try open()
                replacements += 1
                leased = fresh.session
                applyPendingCuts(fresh)
                sftp = fresh
                lastHeard = Monotonic.now()
                logger.notice("SSH session replaced after \(String(format: "%.1f", schedule.downtime(now: Date()))) s; the FTP session goes on")
                return fresh
            } catch {
                switch schedule.attemptFailed(error, now: Date(), random: Double.random(in: 0...1)) {
                case .fatal:
                    if case SessionPoolError.hostKeyDiffers(_, let first, let presented) = error {
                        logger.error("the SSH server now presents host key \(presented), but the bridge verified \(first) when it started; someone could be intercepting connections, so no new SSH session is made and FTP sessions get 421 (if the server's key really changed, check it and start ftptunnel again to verify the new key)")
                    } else {
                        logger.error("cannot replace the SSH session, and no retry can fix it: \(error)")
                    }
                    fatal = error
                    throw SFTPLink.gone("\(error)")
                case .giveUp:
                    logger.error("cannot replace the SSH session after \(schedule.failures) attempts (ReconnectAttempts): \(error)")
                    throw SFTPLink.gone("\(error)")
                case .retry(let delay):
                    let resume = Monotonic.now() + delay
                    guard resume < deadline else {
                        logger.warning(patient ? "SSH session not back within \(Int(policy.waitForSession)) s: \(error)"
                                       : "SSH server not reachable yet (\(error)); the next command tries again")
                        throw SFTPLink.gone("\(error)")
                    }
                    logger.info("SSH session attempt \(schedule.failures) failed (\(error)); next in \(String(format: "%.1f", delay)) s")
                    if (try? PosixPoll.wait(stopFD, events: Int16(POLLIN), milliseconds: Monotonic.milliseconds(until: resume))) == true {
                        throw SFTPLink.gone("the bridge is stopping")
                    }
                }
            }
        }
    }

    /// No session: the engine answers 421 and closes the FTP session.
    private static func gone(_ reason: String) -> FileStoreError {
        .system(PosixError("no SSH session to the SFTP server (\(reason))", code: ECONNRESET))
    }
}
