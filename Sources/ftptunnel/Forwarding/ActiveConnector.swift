import Foundation
import FTPServerKit
import Posix

/// Active mode: the connects to a client's own loopback port (after PORT/EPRT), non-blocking and finished on POLLOUT
/// like OpenSSH's SSH_CHANNEL_CONNECTING, each with a deadline. The target guard is asked twice: before the connect
/// (the address is the client's own) and once connected (the socket reached, from the connection's own 4-tuple).
final class ActiveConnector {
    /// Longest wait for a non-blocking connect to a client's active-mode port on loopback.
    static let connectTimeout: TimeInterval = 3

    private unowned let loop: ForwardingLoop

    init(loop: ForwardingLoop) {
        self.loop = loop
    }

    /// Starts the connect to an active-mode client's loopback port once `targetGuard` agrees it is the client's own;
    /// its channel is opened once it is connected and the connection's peer passed the guard too.
    func start(client: SocketAddress, target: ForwardTarget, targetGuard: ActiveTargetGuard,
               meter: TransferMeter?, completion: @escaping (ActiveConnectOutcome) -> Void) {
        if let refusal = targetGuard.check(target: client) {
            // Nothing listening is a failed connect (425), as it always was; someone else's socket is refused (501).
            completion(refusal.nothingListens
                ? .failed("\(DataConnectionError.clientUnreachable(address: "\(client)", reason: "nothing listens there"))")
                : .refused("\(refusal)"))
            return
        }
        let started: (fd: Int32, address: SocketAddress, connected: Bool)
        do {
            started = try LoopbackConnector.start(host: client.host, port: client.port)
        } catch {
            completion(.failed("\(error)"))
            return
        }
        let forward = Forward(id: loop.nextID, fd: started.fd, peer: client.host, peerPort: client.port, localPort: client.port,
                              target: target, filter: nil, bufferSize: loop.configuration.bufferSize)
        forward.onChannelOpen = { outcome in
            switch outcome {
            case .opened: completion(.connected)
            case .failed(let reason): completion(.failed(reason))
            }
        }
        forward.activeCheck = (targetGuard, { completion(.refused($0)) })
        forward.meter = meter
        loop.configuration.activity?.connectionOpened(control: false)
        loop.nextID += 1
        loop.forwards.append(forward)
        loop.logger.info("active-mode data connection to \(client)", metadata: loop.meta(forward))
        if started.connected {
            connected(forward)
        } else {
            forward.handle(.connectStarted(started.address, deadline: Date().addingTimeInterval(Self.connectTimeout)))
        }
    }

    /// The socket of a connect in progress polled writable: the connect succeeded or failed.
    func finishConnect(_ forward: Forward, address: SocketAddress) {
        if let failure = LoopbackConnector.finish(fd: forward.fd, address: address) {
            fail(forward, reason: "\(failure)")
        } else {
            connected(forward)
        }
    }

    /// Fails the connects whose deadline passed without an answer.
    func failOverdue(now: Date) -> Bool {
        var progress = false
        for forward in loop.forwards {
            guard case .connectingLocally(let address, let deadline) = forward.state, now >= deadline else { continue }
            fail(forward, reason: "\(DataConnectionError.clientUnreachable(address: "\(address)", reason: "no answer within \(Int(Self.connectTimeout)) s"))")
            progress = true
        }
        return progress
    }

    /// The connect finished: before its channel opens (before a byte moves), the socket it reached must pass the
    /// guard, checked from the connection's own 4-tuple. A refused one is closed unused.
    private func connected(_ forward: Forward) {
        let check = forward.activeCheck
        forward.activeCheck = nil
        if let check, let refusal = check.targetGuard.check(connected: forward.fd) {
            forward.onChannelOpen = nil
            if forward.handle(.end) == .finish { loop.finish(forward) }
            check.refused("\(refusal)")
            return
        }
        loop.assignToLaneOrPool(forward)
    }

    private func fail(_ forward: Forward, reason: String) {
        let report = forward.onChannelOpen
        forward.onChannelOpen = nil
        if forward.handle(.end) == .finish { loop.finish(forward) }
        report?(.failed(reason))
    }
}
