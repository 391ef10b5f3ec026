/// Extension point for rewrite mode (DESIGN 3.4): a transformation of one forward's byte streams,
/// registered on the control connection. The loop moves bytes; the filter transforms them. Pure filters
/// (no sockets) are testable on their own.
///
/// Output may be shorter or longer than the input (a filter buffers partial lines). The loop reads more from
/// a side only when the previous output has been queued.
protocol StreamFilter: AnyObject {
    /// Bytes from the local FTP client on their way to the server.
    func clientToServer(_ bytes: UnsafeRawBufferPointer) -> [UInt8]
    /// Bytes from the server on their way to the local FTP client.
    func serverToClient(_ bytes: UnsafeRawBufferPointer) -> [UInt8]
}

/// What a filter (or anything else on the loop thread) may ask the forwarding loop to do:
/// (b) a one-shot listener that opens a channel to `target` when a client connects, (c) an outbound local
/// connect paired with a channel (active mode).
protocol ForwardingControl: AnyObject {
    /// Binds a one-shot listener on the bind address (a port in `range`, or ephemeral when nil); returns the port.
    func addOneShotListener(target: ForwardTarget, range: ClosedRange<Int>?) throws -> Int
    /// Connects to a local address and forwards it to `target` through a new channel (active-mode data).
    func connectLocal(host: String, port: Int, target: ForwardTarget) throws
}

/// Where a forward's channel goes, as seen from the SSH server.
struct ForwardTarget: Sendable, Equatable, CustomStringConvertible {
    let host: String
    let port: Int
    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
