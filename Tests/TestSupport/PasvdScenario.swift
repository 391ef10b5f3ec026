import Foundation

/// A login a pasvd test uses: anonymous, or a users-file account whose hash came from a given tool.
public struct PasvdLogin: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable { case anonymous, opensslSHA512, pasvdPasswd }
    public let kind: Kind
    public let user: String
    public let password: String

    public init(kind: Kind, user: String, password: String) {
        self.kind = kind
        self.user = user
        self.password = password
    }

    public static let anonymous = PasvdLogin(kind: .anonymous, user: "anonymous", password: "test@example.org")
    public static let opensslUser = PasvdLogin(kind: .opensslSHA512, user: "olivia", password: "open sesame 6")
    public static let passwdUser = PasvdLogin(kind: .pasvdPasswd, user: "yannick", password: "y-scrypt:pässword")
    public static let all = [anonymous, opensslUser, passwdUser]

    public var description: String { kind.rawValue }
}

/// A served directory plus a running pasvd (on 127.0.0.2, advertising 127.0.0.2 so clients connect
/// directly), with the users of `PasvdLogin.all` in its users file and writable anonymous access.
public final class PasvdScenario: @unchecked Sendable {
    /// Delay after a failed login used in tests (the server default is 1 s).
    public static let testLoginFailureDelay = "0.2"

    public let directory: TempDirectory
    public let root: String
    public let usersFile: String
    public let server: PasvdFixture

    public init(anonymousWritable: Bool = true, passivePortCount: Int = 10, extraArguments: [String] = []) throws {
        directory = try TempDirectory("pasvd")
        root = try directory.makeDirectory("root")
        usersFile = directory.file("users")
        let hash = try runChecked("openssl", ["passwd", "-6", "-stdin"], input: PasvdLogin.opensslUser.password + "\n")
            .stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try directory.write("users", "# test users\n\(PasvdLogin.opensslUser.user):\(hash):\n", mode: 0o600)
        try PasvdScenario.addUser(file: usersFile, login: PasvdLogin.passwdUser)
        // Protocol tests create and inspect files as the test runner: sessions keep its identity (named
        // explicitly, as pasvd requires for root). Account switching has its own tests with real accounts.
        let runner = PasvdScenario.runnerAccount
        var arguments = ["--users", usersFile, "--anonymous", "--pasv-address", LoopbackNet.serverSide,
                         "--login-failure-delay", PasvdScenario.testLoginFailureDelay,
                         "--anonymous-account", runner, "--user-account", runner]
        if anonymousWritable { arguments.append("--writable") }
        server = try PasvdFixture(root: root, passivePortCount: passivePortCount, extraArguments: arguments + extraArguments)
    }

    /// The account the tests run as (root in CI).
    public static var runnerAccount: String {
        guard let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name else { return "root" }
        return String(cString: name)
    }

    /// `pasvd passwd --users FILE NAME`, the password on stdin.
    public static func addUser(file: String, login: PasvdLogin, root: String? = nil) throws {
        try runChecked(try Products.pasvd, ["passwd", "--users", file, login.user] + (root.map { ["--root", $0] } ?? []),
                       input: login.password + "\n")
    }

    public var host: String { server.host }
    public var port: Int { server.port }
    public func path(_ name: String) -> String { "\(root)/\(name)" }

    /// `ftp://user:password@host:port/` with the password percent-encoded.
    public func url(_ login: PasvdLogin, _ path: String = "") -> String {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
        let user = login.user.addingPercentEncoding(withAllowedCharacters: allowed)!
        let password = login.password.addingPercentEncoding(withAllowedCharacters: allowed)!
        return "ftp://\(user):\(password)@\(host):\(port)/\(path)"
    }

    /// A raw control connection, already logged in when `login` is given.
    public func control(login: PasvdLogin? = nil) throws -> RawFTPControl {
        let control = try RawFTPControl(host: host, port: port)
        // Children spawned by tests running in parallel must not inherit (and so keep open) this connection.
        _ = fcntl(control.fd, F_SETFD, FD_CLOEXEC)
        guard control.readReply()?.hasPrefix("220") == true else { throw PasvdScenarioError.noGreeting }
        if let login {
            _ = control.command("USER \(login.user)")
            guard control.command("PASS \(login.password)")?.hasPrefix("230") == true else {
                throw PasvdScenarioError.loginFailed(login.user)
            }
        }
        return control
    }

    /// Sends PASV or EPSV on `control` and connects to the announced port (on the server side address).
    public func openData(_ control: RawFTPControl, extended: Bool = true) throws -> Int32 {
        let reply = control.command(extended ? "EPSV" : "PASV") ?? ""
        guard let open = reply.firstIndex(of: "("), let close = reply.lastIndex(of: ")") else {
            throw PasvdScenarioError.unexpectedReply(reply)
        }
        let inner = reply[reply.index(after: open)..<close]
        let port: Int
        if extended {
            port = Int(inner.split(separator: "|").first ?? "") ?? 0
        } else {
            let numbers = inner.split(separator: ",").compactMap { Int($0) }
            port = numbers.count == 6 ? numbers[4] * 256 + numbers[5] : 0
        }
        guard let fd = LoopbackNet.connect(host, port) else { throw PasvdScenarioError.unexpectedReply(reply) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return fd
    }
}

public enum PasvdScenarioError: Error, CustomStringConvertible {
    case noGreeting
    case loginFailed(String)
    case unexpectedReply(String)
    public var description: String {
        switch self {
        case .noGreeting: return "pasvd did not greet with 220"
        case .loginFailed(let user): return "login as \(user) failed"
        case .unexpectedReply(let reply): return "unexpected reply: \(reply)"
        }
    }
}
