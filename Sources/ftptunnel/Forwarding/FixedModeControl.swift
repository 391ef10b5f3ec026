import Foundation
import Logging
import Posix
import TunnelCore

/// Fixed mode on one control connection: drives Shared's pure `FixedModeGuard` (PORT/EPRT answered 502 locally,
/// everything else untouched, transparent after AUTH) for the forwarding loop. Lives on the loop thread only.
final class FixedModeControl: StreamFilter {
    private var guardState = FixedModeGuard()
    private let logger: Logger
    private weak var forward: Forward?

    init(logger: Logger) {
        self.logger = logger
    }

    static func factory(logger: Logger) -> @Sendable (ForwardingControl, SocketAddress) -> StreamFilter {
        { _, _ in FixedModeControl(logger: logger) }
    }

    func attach(to forward: Forward) { self.forward = forward }

    var wantsClientBytes: Bool { guardState.wantsClientBytes }
    var wantsServerBytes: Bool { true }
    var holdsOutput: Bool { guardState.holdsOutput }

    func clientBytes(_ bytes: UnsafeRawBufferPointer) {
        let wasTransparent = guardState.isTransparent
        deliver(guardState.clientBytes(bytes))
        if !wasTransparent, guardState.isTransparent {
            logger.debug("the client sent AUTH: the control connection passes untouched from now on", metadata: forward.map { ["conn": "\($0.id)"] })
        }
    }

    func serverBytes(_ bytes: UnsafeRawBufferPointer) { deliver(guardState.serverBytes(bytes)) }
    func clientEnded() { deliver(guardState.clientEnded()) }
    func serverEnded() {}
    func detach() {}

    private func deliver(_ output: FixedModeGuard.Output) {
        forward?.queueToChannel(output.toServer)
        forward?.queueToLocal(output.toClient)
    }
}
