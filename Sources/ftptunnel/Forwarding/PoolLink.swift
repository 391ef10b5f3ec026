import Foundation

/// One forwarding loop's link to its session pool (`Sessions N`), on the loop's thread: which of its forwards count
/// in its member's load, and the active-mode completions it awaits, by token, from the sessions it handed
/// connections to (so a filter is always called on its own loop's thread).
final class PoolLink {
    /// This loop's place in the pool: its load, its inbox of dispatched connections and posted reports.
    let member: PoolMember
    /// Sends a connection to the least-loaded session.
    let dispatcher: ConnectionDispatcher
    /// Forwards counted in `member`'s load, by forward id.
    private var counted = Set<Int>()
    private var awaitedReports: [Int: (ChannelOpenOutcome) -> Void] = [:]
    private var nextToken = 1

    init(member: PoolMember, dispatcher: ConnectionDispatcher) {
        self.member = member
        self.dispatcher = dispatcher
    }

    /// `forward` arrived through the dispatcher: it counts in this session's load until it closes locally.
    func count(_ forward: Forward) {
        counted.insert(forward.id)
    }

    /// Takes the finished forwards out of this session's load (before they leave the loop).
    func releaseClosed(_ forwards: [Forward]) {
        guard !counted.isEmpty else { return }
        for forward in forwards where forward.localClosed && counted.remove(forward.id) != nil {
            member.release()
        }
    }

    /// Hands a connected active-mode forward to the least-loaded session. `release` runs just before the dispatch:
    /// the socket then belongs to the receiving loop, so the forward only leaves this loop's list. Its channel-open
    /// report comes back through `member` under a token and runs in `deliverReports`.
    func dispatch(_ forward: Forward, configuration: ForwardingLoop.Configuration, release: () -> Void) {
        let token = nextToken
        nextToken += 1
        if let report = forward.onChannelOpen { awaitedReports[token] = report }
        forward.onChannelOpen = nil
        let member = member
        var connection = AdoptedConnection(fd: forward.fd, peer: forward.peer, peerPort: forward.peerPort,
                                           localPort: forward.localPort, target: forward.target)
        connection.meter = forward.meter
        forward.meter = nil
        configuration.activity?.connectionClosed(control: false)
        connection.report = { outcome in member.postReport(token: token, outcome: outcome) }
        release()
        if dispatcher.dispatch(connection) == nil {
            awaitedReports.removeValue(forKey: token)?(.failed("no SSH session is left to carry the data connection"))
        }
    }

    /// Runs the active-mode completions other pool sessions posted for this loop's filters.
    func deliverReports() -> Bool {
        let reports = member.takeReports()
        for report in reports { awaitedReports.removeValue(forKey: report.token)?(report.outcome) }
        return !reports.isEmpty
    }

    /// The loop ends: its member takes no more connections and nothing counts in its load.
    func close() {
        member.close()
        counted.removeAll()
    }
}
