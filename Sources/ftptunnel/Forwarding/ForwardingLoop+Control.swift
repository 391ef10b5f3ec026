import Foundation
import FTPServerKit
import Posix

/// Dynamic forwards requested while the loop runs (rewrite mode's data connections), on the loop thread.
extension ForwardingLoop: ForwardingControl {
    func openDataListener(owner: ObjectIdentifier, id: Int, target: ForwardTarget, address: String,
                          meter: TransferMeter?) throws -> Int {
        let candidates: [Int]
        if let range = configuration.dataPorts {
            // Start at a random port so consecutive transfers do not meet the previous one's TIME_WAIT.
            let ports = Array(range)
            let start = Int.random(in: 0..<ports.count)
            candidates = Array(ports[start...] + ports[..<start])
        } else {
            candidates = [0]
        }
        var lastError: Error = TunnelError.internalFailure("empty data port range")
        var lastReason = "empty range"
        for port in candidates {
            do {
                let listener = try LocalListener(address: address, port: port, target: target, oneShot: true)
                listener.meter = meter
                try listener.listen()
                listeners.append(listener)
                dataListeners.add(listener, key: .init(owner: owner, id: id))
                logger.debug("data listener on \(address) port \(listener.port) for \(target)")
                openEarlyChannel(for: listener, owner: owner)
                return listener.port
            } catch {
                lastError = error
                if case TunnelError.bindFailed(let address, let port, let reason) = error { lastReason = "\(address):\(port): \(reason)" }
            }
        }
        if let range = configuration.dataPorts {
            throw DataConnectionError.portsExhausted(range: "\(range.lowerBound)-\(range.upperBound)", last: lastReason)
        }
        throw lastError
    }

    func releaseDataListener(owner: ObjectIdentifier, id: Int) {
        if let listener = dataListeners.remove(.init(owner: owner, id: id)) { dropListener(listener) }
    }

    func releaseDataListeners(owner: ObjectIdentifier) {
        for listener in dataListeners.removeAll(owner: owner) { dropListener(listener) }
    }

    var wakeLoop: @Sendable () -> Void { { [wakeUp] in wakeUp.wake() } }

    func connectActive(client: SocketAddress, target: ForwardTarget, targetGuard: ActiveTargetGuard,
                       meter: TransferMeter?, completion: @escaping (ActiveConnectOutcome) -> Void) {
        activeConnector.start(client: client, target: target, targetGuard: targetGuard, meter: meter, completion: completion)
    }
}
