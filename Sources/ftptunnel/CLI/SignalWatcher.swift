import Foundation
import Posix

/// SIGINT/SIGTERM (and SIGHUP) delivered on a dispatch queue, not in a signal handler; SIGPIPE ignored.
final class SignalWatcher: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []

    init(handler: @escaping @Sendable (Int32) -> Void) {
        PosixSignals.ignore(SIGPIPE)
        for number in [SIGINT, SIGTERM, SIGHUP] {
            PosixSignals.ignore(number)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { handler(number) }
            source.resume()
            sources.append(source)
        }
    }

    /// The watcher of a tunnel command. Before the tunnel is ready a signal releases the control socket and ends the
    /// process (128+N); after, it announces the stop, runs `beforeStop` (end a child command, tell systemd) and stops
    /// the tunnel.
    static func stopping(_ tunnel: Tunnel, server: ControlServer?,
                         beforeStop: @escaping @Sendable (Int32) -> Void) -> SignalWatcher {
        SignalWatcher { number in
            if !tunnel.isForwarding {
                server?.close()
                exitBeforeReady(number)
            }
            announceStop(number)
            beforeStop(number)
            tunnel.stop()
        }
    }

    func cancel() { sources.forEach { $0.cancel() } }

    /// A signal during set-up (connecting, a passphrase prompt): restore the terminal and exit 128+N.
    static func exitBeforeReady(_ number: Int32) -> Never {
        PosixTerminal.restoreEcho()
        Console.interrupted("interrupted before the tunnel was ready", signal: number)
        exit(128 + number)
    }

    /// A signal after ready: one line, then the tunnel closes.
    static func announceStop(_ number: Int32) {
        Console.interrupted("\(number == SIGINT ? "interrupted" : "signal \(number) received"): closing the tunnel", signal: number)
    }
}
