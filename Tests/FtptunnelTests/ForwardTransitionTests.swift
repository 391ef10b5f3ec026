import Foundation
import Posix
import Testing
@testable import ftptunnel

/// Forwards brought into each state the only way there is: by the events the loop, the lane and the supervisor send.
enum ForwardPaths {
    /// The channel states, with an open in flight split by whether it was given up.
    enum Kind: String, CaseIterable, CustomStringConvertible {
        case connectingLocally, queued, opening, openingAbandoned, open, closing, suspended, draining, done
        var description: String { rawValue }

        init(_ state: Forward.ChannelState) {
            switch state {
            case .connectingLocally: self = .connectingLocally
            case .queued: self = .queued
            case .opening(_, false, _): self = .opening
            case .opening(_, true, _): self = .openingAbandoned
            case .open: self = .open
            case .closing: self = .closing
            case .suspended: self = .suspended
            case .draining: self = .draining
            case .done: self = .done
            }
        }
    }

    /// A control connection's filter that can rebuild its FTP session elsewhere (what `canResumeElsewhere` asks).
    final class ResumableFilter: StreamFilter {
        func attach(to forward: Forward) {}
        var wantsClientBytes: Bool { true }
        var wantsServerBytes: Bool { true }
        var holdsOutput: Bool { false }
        func clientBytes(_ bytes: UnsafeRawBufferPointer) {}
        func serverBytes(_ bytes: UnsafeRawBufferPointer) {}
        func clientEnded() {}
        func serverEnded() {}
        func detach() {}
        var survivesSessionLoss: Bool { true }
    }

    static func fresh(filter: StreamFilter? = nil) -> Forward {
        Forward(id: 1, fd: -1, peer: "127.0.0.1", peerPort: 5000, localPort: 2121,
                target: ForwardTarget(host: "127.0.0.2", port: 21), filter: filter, bufferSize: 64)
    }

    /// queued (or suspended, or connected locally) → opening → open, without a channel.
    static func open(_ forward: Forward) {
        forward.handle(.queued)
        forward.handle(.openStarted(Date()))
        forward.handle(.opened(nil))
    }

    /// A forward in `kind`; a filter where the state allows one (`draining` is for data connections only, and
    /// `suspended` needs a filter that resumes: it gets one when none is given).
    static func forward(in kind: Kind, filter: StreamFilter? = nil) -> Forward {
        let forward = fresh(filter: kind == .draining ? nil : kind == .suspended ? (filter ?? ResumableFilter()) : filter)
        switch kind {
        case .connectingLocally:
            forward.handle(.connectStarted(SocketAddress(host: "127.0.0.1", port: 5001)!, deadline: Date().addingTimeInterval(3)))
        case .queued:
            break
        case .opening:
            forward.handle(.openStarted(Date()))
        case .openingAbandoned:
            forward.handle(.openStarted(Date()))
            forward.handle(.openAbandoned)
        case .open:
            open(forward)
        case .closing:
            open(forward)
            forward.handle(.closeChannel)
        case .suspended:
            open(forward)
            forward.handle(.sessionLost(now: Date(), mayResume: true))
        case .draining:
            open(forward)
            forward.handle(.channelEOF)
            forward.handle(.sessionLost(now: Date(), mayResume: false))
        case .done:
            forward.handle(.end)
        }
        precondition(Kind(forward.state) == kind, "the path to \(kind) ended in \(forward.state)")
        return forward
    }
}

/// Every (state, event) pair of `Forward.handle`: the next state and the action, for the legal pairs as for the
/// illegal ones (which change nothing and answer `.ignored`).
@Suite struct ForwardTransitionTests {
    typealias Kind = ForwardPaths.Kind

    /// One event: the states where it applies with (next state, action), a check of what it sets there, and the
    /// preparation it needs (e.g. a client that ended before our EOF). Every other state ignores it.
    struct Row: CustomStringConvertible, Sendable {
        let name: String
        let event: @Sendable () -> Forward.Event
        var resumable = false
        var prepare: @Sendable (Forward) -> Void = { _ in }
        let applies: [Kind: (Kind, Forward.Action)]
        var sets: @Sendable (Forward) -> Bool = { _ in true }
        var description: String { name }
    }

    static let everywhereButDone = Kind.allCases.filter { $0 != .done }
    static func unchanged(_ action: Forward.Action, in kinds: [Kind] = everywhereButDone) -> [Kind: (Kind, Forward.Action)] {
        Dictionary(uniqueKeysWithValues: kinds.map { ($0, ($0, action)) })
    }

    static let rows: [Row] = [
        Row(name: "connectStarted", event: { .connectStarted(SocketAddress(host: "127.0.0.1", port: 5001)!, deadline: Date()) },
            applies: [.queued: (.connectingLocally, .none)]),
        Row(name: "queued", event: { .queued },
            applies: [.queued: (.queued, .none), .suspended: (.queued, .none), .connectingLocally: (.queued, .none)]),
        Row(name: "openStarted", event: { .openStarted(Date()) }, applies: [.queued: (.opening, .none)]),
        Row(name: "openAbandoned", event: { .openAbandoned }, applies: [.opening: (.openingAbandoned, .finish)],
            sets: { $0.broken }),
        Row(name: "opened", event: { .opened(nil) },
            applies: [.opening: (.open, .opened(resumed: false)), .openingAbandoned: (.closing, .closeLateChannel)]),
        Row(name: "refused", event: { .refused },
            applies: [.opening: (.done, .finish), .openingAbandoned: (.done, .forget)], sets: { $0.broken }),
        Row(name: "localEnded", event: { .localEnded }, applies: unchanged(.none), sets: { $0.upstream == .localEnded }),
        Row(name: "localEnded twice", event: { .localEnded }, prepare: { $0.handle(.localEnded) },
            applies: [:]),
        Row(name: "localFailed", event: { .localFailed }, applies: unchanged(.none), sets: { $0.broken }),
        Row(name: "channelRead", event: { .channelRead(bytes: 1, offered: 2) }, applies: unchanged(.none),
            sets: { $0.lastReadEmptiedChannel }),
        Row(name: "wrote nothing", event: { .wrote(bytes: 0) }, applies: unchanged(.none), sets: { $0.writeWaitsForWindow }),
        Row(name: "writeBlocked out of window", event: { .writeBlocked(halfSent: false) }, applies: unchanged(.none),
            sets: { $0.writeWaitsForWindow }),
        Row(name: "writeBlocked half sent", event: { .writeBlocked(halfSent: true) },
            prepare: { $0.handle(.wrote(bytes: 0)) }, applies: unchanged(.none), sets: { !$0.writeWaitsForWindow }),
        Row(name: "channelEOF", event: { .channelEOF }, applies: unchanged(.none), sets: { $0.downstream == .channelEnded }),
        Row(name: "channelFailed", event: { .channelFailed }, applies: unchanged(.none),
            sets: { $0.broken && $0.downstream == .channelEnded }),
        Row(name: "writeFailed", event: { .writeFailed }, applies: unchanged(.none), sets: { $0.broken }),
        Row(name: "eofSent before the client ended", event: { .eofSent(failed: false) }, applies: [:]),
        Row(name: "eofSent, failed", event: { .eofSent(failed: true) }, prepare: { $0.handle(.localEnded) },
            applies: unchanged(.none), sets: { $0.upstream == .eofLost }),
        Row(name: "localShutDown before the channel ended", event: { .localShutDown },
            applies: [.draining: (.draining, .none)]),
        Row(name: "localShutDown", event: { .localShutDown }, prepare: { $0.handle(.channelEOF) },
            applies: unchanged(.none), sets: { $0.downstream == .localShutDown }),
        Row(name: "closeChannel", event: { .closeChannel }, applies: [.open: (.closing, .none)]),
        Row(name: "channelClosed", event: { .channelClosed }, applies: [.closing: (.closing, .finish)],
            sets: { $0.channel == nil }),
        Row(name: "sessionLost, data connection", event: { .sessionLost(now: Date(), mayResume: true) },
            applies: unchanged(.finish, in: everywhereButDone).mapValues { _ in (.done, .finish) }, sets: { $0.broken }),
        Row(name: "sessionLost after the channel's EOF", event: { .sessionLost(now: Date(), mayResume: true) },
            prepare: { $0.handle(.channelEOF) },
            applies: unchanged(.finish, in: everywhereButDone).mapValues { _ in (.done, .finish) }
                .merging([.open: (.draining, .drain)]) { $1 }),
        Row(name: "sessionLost, resumable control connection", event: { .sessionLost(now: Date(), mayResume: true) },
            resumable: true,
            applies: unchanged(.finish, in: everywhereButDone).mapValues { _ in (.done, .finish) }
                .merging([.open: (.suspended, .suspend), .queued: (.suspended, .suspend), .opening: (.suspended, .suspend)]) { $1 },
            sets: { $0.state == .done ? $0.broken : !$0.broken }),
        Row(name: "sessionLost, resumable but Reconnect no", event: { .sessionLost(now: Date(), mayResume: false) },
            resumable: true,
            applies: unchanged(.finish, in: everywhereButDone).mapValues { _ in (.done, .finish) }),
        Row(name: "abort", event: { .abort },
            applies: [.connectingLocally: (.done, .finish), .queued: (.done, .finish), .suspended: (.done, .finish),
                      .draining: (.done, .finish), .done: (.done, .finish), .open: (.closing, .none),
                      .closing: (.closing, .none), .opening: (.opening, .none), .openingAbandoned: (.openingAbandoned, .none)],
            sets: { $0.broken }),
        Row(name: "closeAfterFlush", event: { .closeAfterFlush }, applies: unchanged(.none), sets: { $0.closeWhenFlushed }),
        Row(name: "end", event: { .end },
            applies: [.connectingLocally: (.done, .finish), .queued: (.done, .finish), .suspended: (.done, .finish),
                      .draining: (.done, .finish)]),
        Row(name: "released", event: { .released },
            applies: Dictionary(uniqueKeysWithValues: Kind.allCases.map { ($0, (.done, .none)) })),
        Row(name: "localClosed", event: { .localClosed },
            applies: Dictionary(uniqueKeysWithValues: Kind.allCases.map { ($0, (.done, .none)) })
                .merging([.opening: (.opening, .none), .openingAbandoned: (.openingAbandoned, .none)]) { $1 }),
    ]

    @Test(arguments: rows)
    func everyStateAnswersTheEvent(_ row: Row) {
        for kind in Kind.allCases {
            let forward = ForwardPaths.forward(in: kind, filter: row.resumable ? ForwardPaths.ResumableFilter() : nil)
            row.prepare(forward)
            let before = Kind(forward.state)
            let action = forward.handle(row.event())
            let after = Kind(forward.state)
            if let (next, expected) = row.applies[kind] {
                #expect(after == next && action == expected, "\(row) in \(kind): \(after), \(action)")
                #expect(row.sets(forward), "\(row) in \(kind): what it sets")
            } else {
                #expect(after == before && action == .ignored, "\(row) in \(kind) is not a transition: \(after), \(action)")
            }
        }
    }

    /// Every event of `Forward.Event` has a row: `name` switches over all of them, so a new event does not
    /// compile here until it is named, and then fails until the table has a row for it.
    @Test func theTableCoversEveryEvent() {
        let all: Set<String> = ["connectStarted", "queued", "openStarted", "openAbandoned", "opened", "refused",
                                "localEnded", "localFailed", "channelRead", "wrote", "writeBlocked", "channelEOF", "channelFailed",
                                "writeFailed", "eofSent", "localShutDown", "closeChannel", "channelClosed", "sessionLost",
                                "abort", "closeAfterFlush", "end", "released", "localClosed"]
        #expect(Set(Self.rows.map { Self.name($0.event()) }) == all)
    }

    static func name(_ event: Forward.Event) -> String {
        switch event {
        case .connectStarted: "connectStarted"
        case .queued: "queued"
        case .openStarted: "openStarted"
        case .openAbandoned: "openAbandoned"
        case .opened: "opened"
        case .refused: "refused"
        case .localEnded: "localEnded"
        case .localFailed: "localFailed"
        case .channelRead: "channelRead"
        case .wrote: "wrote"
        case .writeBlocked: "writeBlocked"
        case .channelEOF: "channelEOF"
        case .channelFailed: "channelFailed"
        case .writeFailed: "writeFailed"
        case .eofSent: "eofSent"
        case .localShutDown: "localShutDown"
        case .closeChannel: "closeChannel"
        case .channelClosed: "channelClosed"
        case .sessionLost: "sessionLost"
        case .abort: "abort"
        case .closeAfterFlush: "closeAfterFlush"
        case .end: "end"
        case .released: "released"
        case .localClosed: "localClosed"
        }
    }

    /// A control connection suspended by a session loss resumes: its next channel is reported as resumed, once.
    @Test func aSuspendedControlConnectionsNextChannelIsReportedResumed() {
        let forward = ForwardPaths.forward(in: .suspended)
        forward.handle(.queued)
        #expect(forward.resuming)
        forward.handle(.queued)
        #expect(forward.resuming, "queued again (another lane) it still resumes")
        forward.handle(.openStarted(Date()))
        #expect(forward.resuming)
        #expect(forward.handle(.opened(nil)) == .opened(resumed: true))
        #expect(!forward.resuming)
        forward.handle(.closeChannel)
        #expect(forward.handle(.sessionLost(now: Date(), mayResume: true)) == .finish, "closing: it simply ends")
    }
}
