import Foundation

/// ServerAliveInterval / ServerAliveCountMax as OpenSSH's ssh does them (clientloop.c `server_alive_check`):
/// after `interval` seconds in which nothing came from the server, send a keepalive the server must answer; any
/// byte from the server is an answer and starts the count again; when `countMax` probes in a row went unanswered
/// and one more interval passes in silence, the session is dead. Silence ends the session after
/// `interval × (countMax + 1)` seconds. Pure: the caller passes the clock, the server's byte counter and the
/// kernel's time since the server's last data (so an answer looked at late is dated right).
///
/// **Mechanism and why (libssh2 1.10).** The probe is `libssh2_keepalive_send` with want_reply = 1; OpenSSH
/// answers it with SSH_MSG_REQUEST_FAILURE. libssh2 1.10 has no handler for that message: `_libssh2_packet_add`
/// (src/packet.c) appends it to `session->packets`, and only `libssh2_channel_forward_listen_ex` ever takes
/// REQUEST_SUCCESS/FAILURE out again. No public call drains it, so every reply stays until the session is freed.
/// They do not break channel opens (those wait for OPEN_CONFIRMATION/FAILURE matched on the channel id), but
/// `libssh2_poll_channel_read` stops at the first packet shorter than 5 bytes and returns an error, which is why
/// `SSHChannel.hasQueuedData` uses `libssh2_channel_window_read_ex`, which skips them. Hence:
/// - we never wait for the reply itself: any byte the server sends counts (libssh2's received bytes plus what
///   still waits unread in the socket), so a busy session never probes at all;
/// - a probe goes out only after a full interval of silence: at most one queued reply per silent interval;
/// - at most `probeLimit` probes per session. Each reply costs about 128 bytes inside libssh2 once read (a 48-byte
///   list node plus the 43-byte payload and MAC buffer, as malloc rounds them), and
///   while no channel is open nobody reads the socket, whose receive buffer holds about 1800 of them (measured on
///   loopback) before the server could no longer send. No libssh2 1.10 call frees them: `_libssh2_packet_ask` is
///   the only way out of `session->packets`, and the only public caller asking for REQUEST_SUCCESS/FAILURE is
///   `channel_forward_listen`, which sends a request of its own (whose reply then stays instead, and which may
///   open a listening port on the server). So detection is kept alive by replacing the session: from
///   `replaceAfter` probes on (`wantsReplacement`) the session is replaced as soon as nothing runs on it (the
///   supervisor decides; rewrite-mode control connections resume on the new session). A session that stays busy
///   keeps probing up to `probeLimit`; only then does the monitor retire (the loop logs it), leaving
///   TCP_USER_TIMEOUT as the only guard until the session is idle and replaced. A busy session seldom probes at
///   all (any byte from the server counts as an answer).
/// - a probe that is due while it cannot be sent (a send is pending or the socket is full) is counted as sent:
///   OpenSSH would queue it behind the same unsent data.
/// - silence is not the server's fault while the loop itself leaves the socket unread because every local side is
///   full (backpressure through TCP, DESIGN 3.3) and at least `heldBackBytes` wait in it: the server's replies could
///   not get through. That time counts as heard (far above the ≤ 48 KiB of unread replies the probe limit allows).
struct ServerAliveMonitor {
    enum Decision: Equatable {
        /// Nothing to do before this time (or `.infinity`).
        case wait(until: TimeInterval)
        /// Send a probe now.
        case probe
        /// Nothing came from the server for this many seconds: the session is dead.
        case dead(silentSeconds: Int)
    }

    /// Probe spacing in seconds; libssh2 sends keepalives at most every 2 s (`libssh2_keepalive_config` turns 1
    /// into 2), so shorter intervals act as 2.
    let interval: TimeInterval
    let countMax: Int
    let probeLimit: Int
    /// From this many probes on the session should be replaced (three quarters of `probeLimit`: the last quarter
    /// is the time a busy session has to become idle, 2 h at 30 s).
    let replaceAfter: Int
    static let shortestInterval = 2
    static let defaultProbeLimit = 1024
    static let heldBackBytes = 64 << 10

    /// When the server was last heard from (the caller's clock).
    private(set) var lastHeard: TimeInterval
    /// Probes since then (sent or counted as sent).
    private(set) var unanswered = 0
    /// Probes that went out on this session (each leaves one reply inside libssh2).
    private(set) var probesSent = 0
    private var lastCount: Int

    init(interval: Int, countMax: Int, probeLimit: Int = Self.defaultProbeLimit, now: TimeInterval, received: Int) {
        self.interval = TimeInterval(max(Self.shortestInterval, interval))
        self.countMax = max(0, countMax)
        self.probeLimit = max(1, probeLimit)
        replaceAfter = max(1, self.probeLimit * 3 / 4)
        lastHeard = now
        lastCount = received
    }

    /// Notes the server's byte counter; any change is an answer, heard `heardAgo` seconds before `now` (the
    /// kernel's time since the last data segment: the loop may look long after the bytes came). `heldBack`: the
    /// loop leaves at least `heldBackBytes` unread in the socket (no channel wants data), so the server is not
    /// judged. Returns true when outstanding probes were answered.
    @discardableResult
    mutating func observe(received: Int, heardAgo: TimeInterval = 0, heldBack: Bool = false, now: TimeInterval) -> Bool {
        guard received != lastCount || heldBack else { return false }
        lastCount = received
        lastHeard = heldBack ? now : max(lastHeard, now - max(0, heardAgo))
        defer { unanswered = 0 }
        return unanswered > 0
    }

    /// The end of the current silent interval: a probe is due, or death when `countMax` are unanswered.
    var deadline: TimeInterval { lastHeard + interval * TimeInterval(unanswered + 1) }

    func decision(now: TimeInterval) -> Decision {
        if isRetired { return .wait(until: .infinity) }
        guard now >= deadline else { return .wait(until: deadline) }
        return unanswered >= countMax ? .dead(silentSeconds: Int((now - lastHeard).rounded())) : .probe
    }

    /// A due probe went out (`sent`) or could not be sent now and counts anyway.
    mutating func probed(sent: Bool) {
        unanswered += 1
        if sent { probesSent += 1 }
    }

    /// The probe budget is spent: no more probes, no verdicts.
    var isRetired: Bool { probesSent >= probeLimit }

    /// Enough replies are kept inside libssh2 that the session should be replaced while it is idle.
    var wantsReplacement: Bool { probesSent >= replaceAfter }

    /// Milliseconds from `now` until the deadline, for poll() (Int32.max: retired). An answer that nobody reads
    /// does not wake poll(), and need not: it is looked at, and dated by the kernel, before the next verdict.
    func pollTimeout(now: TimeInterval) -> Int32 {
        guard !isRetired else { return Int32.max }
        return Int32(min(max(0, deadline - now) * 1000 + 1, Double(Int32.max)))
    }

    /// The monotonic clock the loop passes in.
    static var now: TimeInterval { ProcessInfo.processInfo.systemUptime }
}
