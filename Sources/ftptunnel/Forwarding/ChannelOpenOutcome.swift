/// Whether a connection's channel opened, told once to whoever waits for it (an active-mode data connection's filter).
enum ChannelOpenOutcome: Sendable, Equatable {
    case opened
    /// It did not, and why (for the client's reply and the log).
    case failed(String)
}
