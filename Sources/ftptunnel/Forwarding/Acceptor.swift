import Foundation
import Posix

/// Admission of local connections into one forwarding loop: accepts what a listener has (never beyond
/// `maximumConnections`), hands an early data channel its client, and places every other connection on this loop's
/// lanes or, with a session pool, on the least-loaded session. Also takes in the connections the pool dispatched here.
final class Acceptor {
    private unowned let loop: ForwardingLoop
    /// `maximumConnections` reached: logged once until a connection is accepted again.
    private var refusingConnections = false

    init(loop: ForwardingLoop) {
        self.loop = loop
    }

    /// Accepts every connection waiting on `listener` (one only on a one-shot data listener, which then closes).
    func acceptAll(on listener: LocalListener) -> Bool {
        let configuration = loop.configuration
        var accepted = false
        while let client = listener.accept() {
            accepted = true
            if loop.forwards.count >= configuration.maximumConnections {
                PosixDescriptor.close(client.fd)
                if !refusingConnections {
                    loop.logger.warning("\(loop.forwards.count) connections are open, the most this tunnel carries at once; closing new ones until some finish")
                }
                refusingConnections = true
                continue
            }
            refusingConnections = false
            if listener.oneShot, let early = loop.earlyChannels.take(for: listener) {
                if early.awaitingLocal, !early.localClosed, !early.broken, !early.isDone, early.state != .closing {
                    early.adoptLocal(fd: client.fd, peer: client.peer, peerPort: client.peerPort)
                    early.meter = listener.meter
                    loop.logger.info("connection accepted onto its early channel", metadata: loop.meta(early))
                    loop.dataListeners.forget(listener)
                    loop.listeners.removeAll { $0 === listener }
                    break
                }
                loop.abandonEarlyChannel(early)  // it failed or ended: the connection gets a channel of its own
            }
            if let pool = loop.pool {
                // Control and data connections alike go to the least-loaded session: losing one session then
                // fails only what it carried (issue 17, point 7).
                var adopted = AdoptedConnection(fd: client.fd, peer: client.peer, peerPort: client.peerPort,
                                                localPort: listener.port, target: listener.target)
                adopted.meter = listener.meter
                if listener.isControl { adopted.controlArrivedOn = PosixSocket.localAddress(client.fd) ?? listener.local }
                pool.dispatcher.dispatch(adopted)
                loop.logger.debug("\(listener.isControl ? "control" : "data") connection handed to the session pool", metadata: ["port": "\(listener.port)", "peer": "\(client.peer):\(client.peerPort)"])
            } else {
                let filter = listener.isControl
                    ? configuration.controlFilter?(loop, PosixSocket.localAddress(client.fd) ?? listener.local) : nil
                let forward = Forward(id: loop.nextID, fd: client.fd, peer: client.peer, peerPort: client.peerPort,
                                      localPort: listener.port, target: listener.target, filter: filter,
                                      bufferSize: listener.isControl ? ForwardingLoop.controlBufferSize : configuration.bufferSize)
                forward.filter?.attach(to: forward)
                forward.meter = listener.meter
                configuration.activity?.connectionOpened(control: listener.isControl)
                loop.nextID += 1
                loop.forwards.append(forward)
                loop.sessions.assign(forward)
                loop.logger.log(level: configuration.connectionLogLevel,
                                "connection accepted on port \(listener.port) from \(client.peer):\(client.peerPort)", metadata: loop.meta(forward))
            }
            if listener.oneShot {
                loop.dataListeners.forget(listener)
                loop.listeners.removeAll { $0 === listener }
                break
            }
        }
        return accepted
    }

    /// Opens channels for the connections the pool's dispatcher queued for this loop.
    func adoptQueued() -> Bool {
        guard let pool = loop.pool else { return false }
        let configuration = loop.configuration
        let connections = pool.member.takeQueued()
        for connection in connections {
            let filter = connection.controlArrivedOn.flatMap { configuration.controlFilter?(loop, $0) }
            let isControl = connection.controlArrivedOn != nil
            let forward = Forward(id: loop.nextID, fd: connection.fd, peer: connection.peer, peerPort: connection.peerPort,
                                  localPort: connection.localPort, target: connection.target, filter: filter,
                                  bufferSize: isControl ? ForwardingLoop.controlBufferSize : configuration.bufferSize)
            forward.filter?.attach(to: forward)
            loop.nextID += 1
            loop.forwards.append(forward)
            pool.count(forward)
            forward.onChannelOpen = connection.report.map { report in { report($0) } }
            forward.meter = connection.meter
            configuration.activity?.connectionOpened(control: isControl)
            loop.sessions.assign(forward)
            loop.logger.log(level: isControl ? configuration.connectionLogLevel : .info,
                            "connection accepted\(isControl ? " on port \(connection.localPort) from \(connection.peer):\(connection.peerPort)" : "")",
                            metadata: loop.meta(forward))
        }
        return !connections.isEmpty
    }
}
