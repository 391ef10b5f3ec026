import Foundation

/// The login as the login worker's authority decided it (`LoginOutcome.handOver`'s ticket): the account that
/// logged in. Which worker serves it is the listener's decision (`AccountMapping`).
struct AuthenticatedLogin: Sendable {
    let account: Account
}
