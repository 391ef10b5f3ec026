/// How the SSH connection reaches the server (OpenSSH's ProxyJump and ProxyCommand share one slot: the first
/// obtained wins, and `none` switches both off).
public enum ProxySetting: Sendable, Equatable {
    /// `ProxyJump none` / `ProxyCommand none`: connect directly.
    case direct
    /// `ProxyJump a,b`: an SSH session to `a`, through it one to `b`, through that one to the server.
    case jump([JumpHost])
    /// `ProxyCommand CMD`: the session runs over CMD's stdin/stdout (`sh -c`); tokens not yet expanded.
    case command(String)

    /// Parses ProxyJump's value: `none`, or comma-separated `[user@]host[:port]` / `ssh://[user@]host[:port]`.
    static func jump(parsing text: String) throws(ValueProblem) -> ProxySetting {
        if text.lowercased() == "none" { return .direct }
        var hops: [JumpHost] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard hops.count < JumpHost.maximumHops else {
                throw ValueProblem(problem: "names more than \(JumpHost.maximumHops) hops",
                                   hint: "use at most \(JumpHost.maximumHops) bastions")
            }
            hops.append(try JumpHost(parsing: String(part)))
        }
        return .jump(hops)
    }

    /// ProxyCommand's words as one shell command line (words that held blanks or quotes are quoted again).
    static func command(words: [String]) -> ProxySetting {
        if words.count == 1, words[0].lowercased() == "none" { return .direct }
        return .command(words.map(ProxySetting.shellWord).joined(separator: " "))
    }

    static func shellWord(_ word: String) -> String {
        let plain = !word.isEmpty && word.allSatisfy { !$0.isWhitespace && $0 != "'" && $0 != "\"" }
        return plain ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// As a profile would spell it.
    public var text: String {
        switch self {
        case .direct: "none"
        case .jump(let hops): hops.map(\.description).joined(separator: ",")
        case .command(let line): line
        }
    }
}

/// One hop of ProxyJump as written: `[user@]host[:port]`.
public struct JumpHost: Sendable, Equatable, CustomStringConvertible {
    public let user: String?
    public let host: String
    public let port: Int?

    /// More hops than anyone needs is a loop in ~/.ssh/config.
    public static let maximumHops = 8

    init(parsing text: String) throws(ValueProblem) {
        var body = Substring(text)
        if body.lowercased().hasPrefix("ssh://") { body = body.dropFirst(6) }
        if body.hasSuffix("/") { body = body.dropLast() }
        guard !body.isEmpty else {
            throw ValueProblem(problem: "has an empty hop", hint: "write hops as [user@]host[:port], separated by commas")
        }
        guard let destination = try? Destination(parsing: String(body)) else {
            throw ValueProblem(problem: "has a hop '\(text)' that is not [user@]host[:port]",
                               hint: "write hops as [user@]host[:port], separated by commas (no spaces)")
        }
        user = destination.user
        host = destination.host
        port = destination.port
    }

    public init(user: String?, host: String, port: Int?) {
        self.user = user
        self.host = host
        self.port = port
    }

    public var description: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return (user.map { "\($0)@" } ?? "") + name + (port.map { ":\($0)" } ?? "")
    }
}
