import Foundation
import Posix

/// What `Match` criteria are tested against while ~/.ssh/config is read (as OpenSSH's first pass does).
struct MatchContext: Sendable {
    /// The name as typed (`originalhost`, `%n`).
    let originalHost: String
    /// The user from a higher layer (command line, DEST, profile); else ~/.ssh/config's User so far, else the local user.
    let requestedUser: String?
    /// The port from a higher layer, for `%p`.
    let requestedPort: Int?
    let localUser: String

    /// The values criteria see, given the lines read so far (`host` is HostName once a line set it, as in OpenSSH).
    func state(layer: SettingsLayer) -> MatchState {
        let host = layer.hostName.map { $0.value.replacingOccurrences(of: "%h", with: originalHost) } ?? originalHost
        return MatchState(host: host, originalHost: originalHost,
                          user: requestedUser ?? layer.user?.value ?? localUser, localUser: localUser,
                          port: requestedPort ?? layer.port?.value ?? SettingsResolver.defaultSSHPort)
    }
}

/// The values one `Match` line is evaluated with.
struct MatchState: Sendable, Equatable {
    let host: String
    let originalHost: String
    let user: String
    let localUser: String
    let port: Int
}

/// One `Match` line of ssh_config: every criterion must hold (`!` negates one). Criteria ftptunnel cannot evaluate
/// as OpenSSH would (`canonical`, `final`, `localnetwork`, `tagged`, unknown words) are an error naming the line.
struct MatchCondition {
    enum Criterion: Equatable {
        case all
        case host([String]), originalHost([String]), user([String]), localUser([String])
        case exec(String)
    }

    let criteria: [(criterion: Criterion, negated: Bool)]
    let source: SettingSource

    /// Longest a `Match exec` command may run.
    static let execTimeoutMilliseconds: Int32 = 30_000

    init(_ arguments: [String], at source: SettingSource) throws {
        self.source = source
        var parsed: [(Criterion, Bool)] = []
        var index = 0
        func hint(_ problem: String) -> ProfileError {
            ProfileError.syntax(at: source, problem: problem,
                                hint: "ftptunnel evaluates Match all, host, originalhost, user, localuser and exec (each may be negated with !); rewrite this block with those, or with a Host block")
        }
        guard !arguments.isEmpty else { throw hint("Match has no criteria") }
        while index < arguments.count {
            var word = arguments[index].lowercased()
            let negated = word.hasPrefix("!")
            if negated { word.removeFirst() }
            index += 1
            if word == "all" {
                parsed.append((.all, negated))
                continue
            }
            let known = ["host", "originalhost", "user", "localuser", "exec"]
            guard known.contains(word) else {
                let unsupported = ["canonical", "final", "localnetwork", "tagged"]
                throw hint(unsupported.contains(word)
                           ? "Match \(word) is not evaluated by ftptunnel, so it might connect differently from ssh"
                           : "Match has the unknown criterion '\(arguments[index - 1])'")
            }
            guard index < arguments.count else { throw hint("Match \(word) needs a value") }
            let value = arguments[index]
            index += 1
            let list = value.split(separator: ",").map(String.init)
            switch word {
            case "host": parsed.append((.host(list), negated))
            case "originalhost": parsed.append((.originalHost(list), negated))
            case "user": parsed.append((.user(list), negated))
            case "localuser": parsed.append((.localUser(list), negated))
            default: parsed.append((.exec(value), negated))
            }
        }
        if parsed.contains(where: { $0.0 == .all }), parsed.count > 1 {
            throw hint("Match all cannot be combined with other criteria")
        }
        criteria = parsed
    }

    /// Whether the block applies. `exec` runs only while every earlier criterion held (as in OpenSSH).
    func matches(_ state: MatchState, home: String) throws -> Bool {
        for (criterion, negated) in criteria {
            let result: Bool
            switch criterion {
            case .all: result = true
            case .host(let list): result = HostPatternList(patterns: list).matches(state.host)
            case .originalHost(let list): result = HostPatternList(patterns: list).matches(state.originalHost)
            case .user(let list): result = HostPatternList(patterns: list).matchesExactCase(state.user)
            case .localUser(let list): result = HostPatternList(patterns: list).matchesExactCase(state.localUser)
            case .exec(let command): result = try run(command, state: state, home: home)
            }
            if result == negated { return false }
        }
        return true
    }

    /// `sh -c COMMAND` with `%` tokens expanded, stdin and stdout on /dev/null, stderr passed through: exit 0 matches.
    private func run(_ command: String, state: MatchState, home: String) throws -> Bool {
        let tokens: [Character: String] = ["h": state.host, "n": state.originalHost, "p": String(state.port),
                                           "r": state.user, "u": state.localUser, "d": home]
        let line: String
        do { line = try PathExpander(home: home, tokens: tokens).expand(command) } catch let problem as ValueProblem {
            throw ProfileError.invalidValue(at: source, keyword: "Match exec", value: command, problem: problem.problem,
                                            hint: problem.hint)
        }
        guard let null = try? PosixFile.open("/dev/null", flags: O_RDWR) else {
            throw ProfileError.syntax(at: source, problem: "cannot open /dev/null for Match exec", hint: "check /dev/null exists")
        }
        defer { PosixDescriptor.close(null) }
        let pid: pid_t
        do {
            pid = try PosixProcess.spawn("/bin/sh", arguments: ["sh", "-c", line], stdinFD: null, stdoutFD: null,
                                         defaultSignals: [SIGPIPE, SIGINT, SIGTERM, SIGHUP])
        } catch {
            throw ProfileError.syntax(at: source, problem: "Match exec could not start /bin/sh (\(error))",
                                      hint: "check /bin/sh exists")
        }
        guard let status = PosixProcess.waitExit(pid, milliseconds: Self.execTimeoutMilliseconds) else {
            PosixProcess.signal(pid, SIGKILL)
            _ = PosixProcess.waitExit(pid, milliseconds: 1000)
            throw ProfileError.syntax(at: source, problem: "Match exec \"\(line)\" did not finish within \(Self.execTimeoutMilliseconds / 1000) s",
                                      hint: "make the command finish quickly, or replace the Match block by a Host block")
        }
        return status == 0
    }
}

/// ssh_config keywords that decide where or as whom ssh connects and that ftptunnel does not implement: in a block
/// that applies, they stop the resolution with the line instead of being skipped (ftptunnel would otherwise connect
/// somewhere else, or as someone else, than `ssh` does).
enum UnsupportedRouteKeyword {
    /// keyword (lowercased) → values that change nothing (OpenSSH's defaults).
    static let keywords: [String: Set<String>] = [
        "proxyusefdpass": ["no"],
        "canonicalizehostname": ["no"],
        "canonicaldomains": [],
        "hostkeyalias": [],
        "knownhostscommand": ["none"],
        "pkcs11provider": ["none"],
        "securitykeyprovider": ["internal"],
        "certificatefile": ["none"],
        "identityagent": ["none", "ssh_auth_sock"],
        "tag": [],
    ]

    static func check(_ keyword: String, _ arguments: [String], at source: SettingSource) throws {
        guard let harmless = keywords[keyword.lowercased()] else { return }
        if arguments.count == 1, harmless.contains(arguments[0].lowercased()) { return }
        throw ProfileError.syntax(
            at: source,
            problem: "\(keyword) decides where or as whom ssh connects, and ftptunnel does not implement it",
            hint: "remove it from this block, or give ftptunnel a Host alias without it (ftptunnel would otherwise connect differently from ssh)")
    }
}
