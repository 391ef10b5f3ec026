import FTPServerKit
import Foundation

/// Which account worker serves a session: the system account it runs as and the root it opened at start.
/// Sessions with the same identity share workers (they share the account's privileges anyway).
public struct WorkerIdentity: Hashable, Sendable, CustomStringConvertible {
    public let uid: uid_t
    public let gid: gid_t
    /// The session root as configured (absolute).
    public let root: String

    public init(uid: uid_t, gid: gid_t, root: String) {
        self.uid = uid
        self.gid = gid
        self.root = root
    }

    public var description: String { "uid \(uid), gid \(gid), root \(root)" }
}

/// A logged-in session on its way from the login worker, through the listener, to an account worker; its control
/// connection travels as the descriptor attached to the message (`DescriptorChannel`).
public struct SessionHandOff: Equatable, Sendable {
    /// The listener's number of the session (the listener sets it; a login worker's own claim is ignored).
    public var sessionID: Int
    /// The FTP user (a users-file name, or `anonymous`).
    public let user: String
    public let isAnonymous: Bool
    public let writable: Bool
    public let worker: WorkerIdentity
    /// What the engine carries over from before the login.
    public let state: SessionResumeState

    public init(sessionID: Int, user: String, isAnonymous: Bool, writable: Bool, worker: WorkerIdentity,
                state: SessionResumeState) {
        self.sessionID = sessionID
        self.user = user
        self.isAnonymous = isAnonymous
        self.writable = writable
        self.worker = worker
        self.state = state
    }
}
