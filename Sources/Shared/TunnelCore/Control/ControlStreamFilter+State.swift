import FTPCore

/// The filter's internal bookkeeping types.
extension ControlStreamFilter {
    /// Which reply the client asked for: 227 (PASV) or 229 (EPSV).
    enum PassiveStyle: Equatable, Sendable {
        case pasv, epsv
    }

    enum ClientEvent: Sendable {
        case unit(ControlConversation.Unit)
        /// End of the client's stream, with its unfinished last line.
        case end(ControlConversation.Unit?)

        var byteCount: Int {
            switch self {
            case .unit(let unit): return unit.raw.count
            case .end(let unit): return unit?.raw.count ?? 0
            }
        }
    }

    enum OverlongClientLine: Equatable, Sendable {
        case forwarded, refused
    }

    /// A reply the server owes, in command order, with the filter's own replies that must follow it.
    struct Expectation: Sendable {
        enum Kind: Equatable, Sendable {
            /// The 220 banner (or 120 then 220).
            case greeting
            /// Any forwarded command.
            case command
            /// A client PASV/EPSV: its 227/229 is rewritten in this style, with a listener of this family.
            case passive(PassiveStyle, AddressFamily)
            /// The EPSV/PASV the filter sent itself for an active-mode conversion: the reply is swallowed.
            case synthesized
            /// The PASV the filter sent after the server rejected an IPv6 client's EPSV: its 227 becomes a 229.
            case epsvViaPASV(AddressFamily)
        }

        var kind: Kind
        var localRepliesAfter: [[UInt8]] = []
    }

    /// The server reply being received.
    struct ReplyInProgress: Sendable {
        enum Disposition: Equatable, Sendable {
            /// Bytes go to the client unchanged.
            case pass
            /// A 227/229: collected, then replaced.
            case rewrite(PassiveStyle, AddressFamily)
            /// The answer to the filter's own EPSV/PASV: collected, never shown to the client.
            case swallow
            /// An IPv6 client's EPSV was rejected: hidden, and PASV is asked instead.
            case fallBackToPASV
        }

        static let passiveCodes: Set<Int> = [ReplyCode.enteringPassive, ReplyCode.enteringExtendedPassive]

        var code: Int
        var disposition: Disposition
        var lines: [String] = []
        var rawByteCount = 0
        /// Too long or over-long lines: cannot be read as a passive reply.
        var isDamaged = false

        init(code: Int, disposition: Disposition) {
            self.code = code
            self.disposition = disposition
        }

        var isPassiveCode: Bool { Self.passiveCodes.contains(code) }
        var firstLine: String { lines.first ?? "\(code) …" }
        var text: String { FTPReply(code: code, lines: lines).text }
    }

    /// Output for the client, in order; the first waiting item holds back everything behind it.
    enum Outgoing: Sendable {
        case bytes([UInt8])
        /// The rewritten 227/229 for this listener, once its port is known.
        case awaitingListener(DataID, PassiveStyle)
        /// The answer to PORT/EPRT, once the active-mode connection is up.
        case awaitingActive(DataID)

        func awaitsListener(_ id: DataID) -> Bool {
            if case .awaitingListener(id, _) = self { return true }
            return false
        }

        func awaitsActive(_ id: DataID) -> Bool {
            if case .awaitingActive(id) = self { return true }
            return false
        }
    }

    struct ActiveConversion: Sendable {
        enum Stage: Equatable, Sendable {
            /// Waiting for replies to earlier commands before sending EPSV/PASV, so the answer is unambiguous.
            case waitingForQueue
            case sentEPSV
            case sentPASV
            /// `connectActive` issued; waiting for `activeConnected`/`activeConnectFailed`/`activeRefused`.
            case connecting
        }

        /// Assigned when `connectActive` is issued.
        var id: DataID?
        var client: PassiveEndpoint
        /// PORT or EPRT, for the reply text.
        var verb: String
        var stage: Stage
    }
}
