import Posix

/// Active mode's rule: a PORT/EPRT data connection goes only to a socket of the control connection's own client,
/// on the client's address and listening as the uid that owns the client's control socket (the kernel's socket
/// table says who that is). Without it the server (or the tunnel) would lend its own identity: any local user
/// could make it connect, as its owner, to another user's loopback service and deliver a file there.
///
/// Checked twice: the target before connecting (`check(target:)`), and the connection made, from its own 4-tuple,
/// before a byte is sent (`check(connected:)`): the listener may have changed hands in between.
public struct ActiveTargetGuard: Sendable {
    /// The client's end of the control connection (IPv4-mapped addresses unmapped).
    public let client: SocketAddress
    /// The uid that owns the client's socket.
    public let clientUID: UInt32

    public init(client: SocketAddress, clientUID: UInt32) {
        self.client = client.unmapped
        self.clientUID = clientUID
    }

    /// The guard of the control connection `fd` accepted by this process: its client's address and owner.
    public init(controlConnection fd: Int32) throws(ActiveTargetRefusal) {
        guard let peer = PosixSocket.peerAddress(fd), let local = PosixSocket.localAddress(fd) else {
            throw ActiveTargetRefusal("the control connection's addresses cannot be read (it has closed)")
        }
        let owner: UInt32?
        do { owner = try SocketTable.owner(of: peer, connectedTo: local) } catch {
            throw ActiveTargetRefusal("the owner of the client's control socket \(peer) cannot be looked up: \(error)")
        }
        guard let owner else {
            throw ActiveTargetRefusal("the client's control socket \(peer) is not in the kernel's socket table (not a local client)")
        }
        self.init(client: peer, clientUID: owner)
    }

    /// Nil when `target` is on the client's address and the socket listening there belongs to the client's uid.
    public func check(target: SocketAddress) -> ActiveTargetRefusal? {
        let target = target.unmapped
        guard target.host == client.host else {
            return ActiveTargetRefusal("\(target) is not on the client's address \(client.host)")
        }
        let listener: SocketTable.Entry?
        do { listener = try SocketTable.listener(at: target) } catch {
            return ActiveTargetRefusal("who listens at \(target) cannot be looked up: \(error)")
        }
        guard let listener else { return ActiveTargetRefusal("nothing listens at \(target)", nothingListens: true) }
        return Self.ownerRefusal(listener.uid, clientUID: clientUID, what: "the socket listening at \(target)")
    }

    /// Nil when the socket at the other end of the connected `fd` belongs to the client's uid (checked from the
    /// connection's own 4-tuple, so it is the socket this connection reached, not one that listens there now).
    public func check(connected fd: Int32) -> ActiveTargetRefusal? {
        guard let ours = PosixSocket.localAddress(fd), let theirs = PosixSocket.peerAddress(fd) else {
            return ActiveTargetRefusal("the data connection closed before its peer could be checked")
        }
        do {
            let peer = try SocketTable.connection(from: theirs, to: ours)
            // A request socket (final ACK not yet processed) has no owner: the listener it belongs to does.
            let listener = peer?.kind == .handshaking ? try SocketTable.listener(at: theirs) : nil
            return Self.decide(peer: peer, listener: listener, clientUID: clientUID, target: theirs.unmapped)
        } catch {
            return ActiveTargetRefusal("the owner of the socket at \(theirs.unmapped) cannot be looked up: \(error)")
        }
    }

    /// The rule of `check(connected:)` on what the kernel reported: the connected peer's owner, or for a peer still
    /// in its handshake the owner of the listener it belongs to (a request socket lives only as long as the
    /// listener that made it, and all listeners sharing one address and port have one owner).
    static func decide(peer: SocketTable.Entry?, listener: SocketTable.Entry?, clientUID: UInt32,
                       target: SocketAddress) -> ActiveTargetRefusal? {
        guard let peer else { return ActiveTargetRefusal("the socket that accepted the connection to \(target) is gone") }
        switch peer.kind {
        case .connected:
            return ownerRefusal(peer.uid, clientUID: clientUID, what: "the socket that accepted the connection to \(target)")
        case .handshaking:
            guard let listener else { return ActiveTargetRefusal("nothing listens at \(target) any more") }
            return ownerRefusal(listener.uid, clientUID: clientUID, what: "the socket listening at \(target)")
        case .listening:
            return ActiveTargetRefusal("the kernel reported a listener, not the connection to \(target)")
        }
    }

    private static func ownerRefusal(_ uid: UInt32?, clientUID: UInt32, what: String) -> ActiveTargetRefusal? {
        guard let uid else { return ActiveTargetRefusal("\(what) has no owner the kernel can name") }
        return uid == clientUID ? nil : ActiveTargetRefusal("\(what) belongs to uid \(uid), not to the client's uid \(clientUID)")
    }
}

/// Why an active-mode target was refused, for the log (it names uids; the FTP client gets a fixed sentence).
public struct ActiveTargetRefusal: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// Nothing listens at the target: a connection would fail anyway (answered like a refused connect, 425),
    /// not someone else's socket (501).
    public let nothingListens: Bool

    public init(_ description: String, nothingListens: Bool = false) {
        self.description = description
        self.nothingListens = nothingListens
    }

    /// What the FTP client is told (after the reply code).
    public static func replyText(verb: String) -> String {
        "\(verb) refused: active mode connects only to a port your own user listens on, on your own address."
    }
}
