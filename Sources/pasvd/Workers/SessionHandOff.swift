import FTPServerKit
import Foundation

/// Which account worker serves a session: the system account it runs as and the root it opened at start.
/// Sessions with the same identity share workers (they share the account's privileges anyway).
struct WorkerIdentity: Hashable, Sendable, CustomStringConvertible {
    let uid: uid_t
    let gid: gid_t
    /// The session root as configured (absolute).
    let root: String

    var description: String { "uid \(uid), gid \(gid), root \(root)" }
}

/// A logged-in session on its way from the login worker, through the listener, to an account worker; its control
/// connection travels as the descriptor attached to the message (`DescriptorChannel`).
struct SessionHandOff: Equatable, Sendable {
    /// The listener's number of the session (the listener sets it; a login worker's own claim is ignored).
    var sessionID: Int
    /// The FTP user (a users-file name, or `anonymous`).
    let user: String
    let isAnonymous: Bool
    let writable: Bool
    let worker: WorkerIdentity
    /// What the engine carries over from before the login.
    let state: SessionResumeState
}

/// The login as the login worker's authority decided it (`LoginOutcome.handOver`'s ticket): the account that
/// logged in. Which worker serves it is the listener's decision (`AccountMapping`).
struct AuthenticatedLogin: Sendable {
    let account: Account
}
