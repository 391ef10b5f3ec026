import Foundation

/// How a forwarding loop behaves after its SSH session is lost (`Reconnect yes`): retry with backoff — 1 s doubling
/// to 30 s, ±20 % jitter so many tunnels do not return in step — forever or for `attempts` failures in a row.
struct ReconnectPolicy: Sendable, Equatable {
    /// Failed attempts in a row before giving up (0: never).
    var attempts: Int = 0
    /// How long a new client connection waits for the session before it is refused (421 or closed).
    var waitForSession: TimeInterval = 30
    /// How long a surviving control connection waits for the session before it is told 421.
    var suspendedLimit: TimeInterval = 300

    static let firstDelay: TimeInterval = 1
    static let maximumDelay: TimeInterval = 30
    static let jitter = 0.2

    /// The wait before attempt number `attempt` (0 for the first), `random` in 0…1.
    static func delay(beforeAttempt attempt: Int, random: Double) -> TimeInterval {
        let base = min(maximumDelay, firstDelay * pow(2, Double(min(attempt, 16))))
        return base * (1 - jitter + 2 * jitter * min(1, max(0, random)))
    }

    /// True when `failures` failed attempts in a row exhaust the policy.
    func isExhausted(after failures: Int) -> Bool { attempts > 0 && failures >= attempts }

    /// Errors no retry can fix: another host key, refused credentials.
    static func isFatal(_ error: Error) -> Bool {
        switch error {
        case SessionPoolError.hostKeyDiffers, SessionPoolError.credentialRefused: return true
        case let error as BastionError: return isFatal(error.underlying)
        case let error as SSHError:
            switch error {
            case .hostKeyUnknown, .hostKeyRejected, .hostKeyFingerprintMismatch, .hostKeyChanged, .hostKeyRevoked,
                 .cannotRecordHostKey, .knownHostsUnreadable, .authenticationFailed, .wrongPassphrase, .noSupportedAlgorithm,
                 .agentSignatureAlgorithm, .signingFailed, .tooManyAuthenticationFailures:
                return true
            case .resolveFailed, .connectFailed, .handshakeFailed, .sessionLost, .serverNotAnswering, .keepaliveBudgetSpent,
                 .jumpChannelRefused, .proxyCommandFailed:
                return false
            }
        default:
            return false
        }
    }
}
