import FTPCore
import Testing

/// One command line and what its reply must be: the code, text the reply must contain, text it must not contain.
/// `code` nil: no reply at all (the session has closed).
struct Exchange: Sendable {
    let command: [UInt8]
    let code: Int?
    let contains: [String]
    let lacks: [String]

    init(_ command: String, _ code: Int?, _ contains: String..., lacking lacks: [String] = []) {
        self.init(bytes: Array(command.utf8), code, contains, lacking: lacks)
    }

    init(bytes command: [UInt8], _ code: Int?, _ contains: [String] = [], lacking lacks: [String] = []) {
        self.command = command
        self.code = code
        self.contains = contains
        self.lacks = lacks
    }
}

/// A command sequence for the engine, from the greeting on, and the replies it must get.
struct EngineCase: Sendable, CustomTestStringConvertible {
    enum Login: Sendable { case none, alice, anonymous }

    let name: String
    let exchanges: [Exchange]

    init(_ name: String, login: Login = .alice, _ exchanges: [Exchange]) {
        self.name = name
        switch login {
        case .none: self.exchanges = exchanges
        case .alice: self.exchanges = [Exchange("USER alice", 331), Exchange("PASS secret", 230, "Login successful.")] + exchanges
        case .anonymous:
            self.exchanges = [Exchange("USER anonymous", 331), Exchange("PASS me@example.org", 230, "read-only")] + exchanges
        }
    }

    var testDescription: String { name }
    var script: [[UInt8]] { exchanges.map(\.command) }

    /// Checks `replies` (the greeting first) against the exchanges, one reply per command.
    func check(_ replies: [FTPReply]) {
        #expect(replies.first?.code == ReplyCode.serviceReady, "greeting: \(replies.first?.lines ?? [])")
        let answered = Array(replies.dropFirst())
        let expected = exchanges.filter { $0.code != nil }
        #expect(answered.count == expected.count,
                "\(name): \(answered.count) replies for \(expected.count) answered commands: \(answered.map(\.lines))")
        for (exchange, reply) in zip(expected, answered) {
            let command = String(decoding: exchange.command.prefix(60), as: UTF8.self)
            let text = reply.lines.joined(separator: "\n") + "\n"
            #expect(reply.code == exchange.code, "\(name): \(command) → \(text)")
            for part in exchange.contains { #expect(text.contains(part), "\(name): \(command) → \(text) lacks \(part)") }
            for part in exchange.lacks { #expect(!text.contains(part), "\(name): \(command) → \(text) has \(part)") }
        }
    }
}
