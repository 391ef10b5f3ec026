import Foundation
import FTPServerKit
import Posix

/// Extension point for rewrite mode (DESIGN 3.4): the filter of one control connection, driven by the loop on its
/// thread. Unlike a bytes-in/bytes-out transformation it may send toward the server AND toward the client from
/// either side's input, or later (when an active-mode connection completes): it writes through
/// `Forward.queueToChannel` / `Forward.queueToLocal` of the forward it is attached to.
///
/// Loop contract: read the client only while `wantsClientBytes`, the server only while `wantsServerBytes`; report
/// each end of stream once; send EOF to the server / shut the client's write side only when `holdsOutput` is
/// false; call `detach()` exactly once when the control connection is finished.
protocol StreamFilter: AnyObject {
    /// Called once, on the loop thread, when the control forward exists.
    func attach(to forward: Forward)
    var wantsClientBytes: Bool { get }
    var wantsServerBytes: Bool { get }
    /// Bytes for either side are still held back (waiting for a listener or an active-mode connection).
    var holdsOutput: Bool { get }
    /// Bytes from the local FTP client on their way to the server.
    func clientBytes(_ bytes: UnsafeRawBufferPointer)
    /// Bytes from the server on their way to the local FTP client.
    func serverBytes(_ bytes: UnsafeRawBufferPointer)
    func clientEnded()
    func serverEnded()
    /// The control connection is finished: release its data listeners.
    func detach()
    /// Whether the control connection can outlive its SSH session (rewrite mode with Reconnect).
    var survivesSessionLoss: Bool { get }
    /// The channel died with its SSH session (only called when `survivesSessionLoss`).
    func sessionLost()
    /// A new channel to the FTP server is open (after `sessionLost`).
    func serverReconnected()
    /// Moving the connection to another SSH session now would go unnoticed: no command awaits its reply, nothing
    /// is held back, no data connection is being set up.
    var isQuiet: Bool { get }
    /// Once per loop pass: work that waits on something else (a held reply waiting for its data connection).
    /// Returns true when it produced output.
    func tick(now: Date) -> Bool
    /// When `tick` must run at the latest (nil: nothing due).
    var dueDate: Date? { get }
    /// Runs what the server side's input queued (listeners, channels, replies), once per pass after the lanes'
    /// calls: never from inside a lane's call. Returns true when something ran.
    func runQueuedActions() -> Bool
}

extension StreamFilter {
    var survivesSessionLoss: Bool { false }
    var isQuiet: Bool { false }
    func sessionLost() {}
    func serverReconnected() {}
    func tick(now: Date) -> Bool { false }
    var dueDate: Date? { nil }
    func runQueuedActions() -> Bool { false }
}

/// What a control filter may ask the forwarding loop to do, on the loop thread. Data endpoints are keyed by
/// (owner, id): the owner is the control connection's filter.
protocol ForwardingControl: AnyObject {
    /// Binds a one-shot listener on `address` (numeric, never a wildcard) in the data port range (or ephemeral)
    /// whose connection is forwarded to `target`; returns the port. Unused listeners expire.
    /// `meter` counts the bytes of the connection it accepts (nil: not counted).
    func openDataListener(owner: ObjectIdentifier, id: Int, target: ForwardTarget, address: String,
                          meter: TransferMeter?) throws -> Int
    /// Closes that listener if it has not accepted yet.
    func releaseDataListener(owner: ObjectIdentifier, id: Int)
    /// Closes every listener of this owner that has not accepted yet.
    func releaseDataListeners(owner: ObjectIdentifier)
    /// Active mode: connects (without blocking the loop) to the client's loopback address `client` and forwards it
    /// to `target` through a new channel. `targetGuard` checks `client` before the connect and the connection made
    /// before its channel opens (it must reach the control connection's own client). `completion` runs on the loop
    /// thread once.
    func connectActive(client: SocketAddress, target: ForwardTarget, targetGuard: ActiveTargetGuard,
                       meter: TransferMeter?, completion: @escaping (ActiveConnectOutcome) -> Void)
    /// Wakes the loop from any thread (e.g. when another pool session's data connection settles).
    var wakeLoop: @Sendable () -> Void { get }
}

/// How an active-mode data connection ended up.
enum ActiveConnectOutcome: Equatable {
    /// Connected to the client and its channel is open.
    case connected
    /// The connect or the channel failed (the reason).
    case failed(String)
    /// The target, or the socket the connection reached, is not the client's own (the reason, for the log).
    case refused(String)
}

/// Where a forward's channel goes, as seen from the SSH server.
struct ForwardTarget: Sendable, Equatable, CustomStringConvertible {
    let host: String
    let port: Int
    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
