import Foundation
import Posix

/// The descriptors one pass of the forwarding loop polls, and what each ready one means to it (the pre-poll half
/// of OpenSSH's channels.c, and the mapping of `revents` back to the lane, listener or forward it belongs to).
///
/// Rebuilt in place each pass (no allocation once it has grown). It polls the wake-up pipe, every lane's SSH socket
/// in the directions libssh2 reports, the listening sockets when asked, and each live forward's local socket in the
/// directions the forward wants.
struct PollSet {
    /// What a ready descriptor asks of the loop.
    enum Event {
        /// The wake-up pipe: another thread queued something for this loop.
        case wake
        /// A lane's SSH socket hung up or failed (what arrived before the close is still to be read).
        case laneHungUp(SessionLane)
        /// A listening socket has connections to accept.
        case listenerReady(LocalListener)
        /// A forward's local socket is ready in `revents`' directions (or its non-blocking connect finished).
        case forwardReady(Forward, revents: Int16)
    }

    private enum Slot { case wake, lane(SessionLane), listener(LocalListener), forward(Forward) }
    private var slots: [Slot] = []
    private var fds: [pollfd] = []

    /// Refills the set for the next poll; `includeListeners` false leaves the listening sockets out of this pass.
    mutating func rebuild(wakeFD: Int32, lanes: [SessionLane], listeners: [LocalListener], includeListeners: Bool,
                          forwards: [Forward]) {
        fds.removeAll(keepingCapacity: true)
        slots.removeAll(keepingCapacity: true)
        fds.append(pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)); slots.append(.wake)
        for lane in lanes {
            fds.append(pollfd(fd: lane.socket, events: PosixPoll.readHangUp | lane.pollEvents, revents: 0))
            slots.append(.lane(lane))
        }
        for listener in listeners where includeListeners && listener.isListening {
            fds.append(pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0)); slots.append(.listener(listener))
        }
        for forward in forwards where !forward.isDone && !forward.localClosed {
            var events: Int16 = 0
            if case .connectingLocally = forward.state { events |= Int16(POLLOUT) }
            if forward.wantsLocalRead { events |= Int16(POLLIN) }
            if forward.wantsLocalWrite { events |= Int16(POLLOUT) }
            // A socket nobody wants to touch is left out (fd -1): a pending hang-up must not wake poll() in a loop.
            fds.append(pollfd(fd: events == 0 ? -1 : forward.fd, events: events, revents: 0)); slots.append(.forward(forward))
        }
    }

    /// Waits up to `milliseconds` (0: not at all) and returns how many descriptors are ready.
    mutating func poll(milliseconds: Int32) throws(PosixError) -> Int {
        try PosixPoll.poll(&fds, milliseconds: milliseconds)
    }

    /// Calls `body` for each ready descriptor in the order the set was built (the wake-up pipe first). A lane's
    /// socket that is merely readable or writable is not reported: every lane runs its calls each pass anyway.
    func forEachReady(_ body: (Event) throws -> Void) rethrows {
        for (index, fd) in fds.enumerated() where fd.revents != 0 {
            switch slots[index] {
            case .wake:
                try body(.wake)
            case .lane(let lane):
                if fd.revents & (PosixPoll.readHangUp | Int16(POLLHUP | POLLERR)) != 0 { try body(.laneHungUp(lane)) }
            case .listener(let listener):
                try body(.listenerReady(listener))
            case .forward(let forward):
                try body(.forwardReady(forward, revents: fd.revents))
            }
        }
    }
}
