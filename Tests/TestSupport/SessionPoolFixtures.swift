import Foundation

/// The recipe topology for `Sessions N` tests: a real sshd, vsftpd on 127.0.0.2 advertising 127.0.0.1 with
/// 16 passive ports (enough for many concurrent transfers), uploads into `upload/`.
public final class PoolRecipe: @unchecked Sendable {
    public let sshd: SSHDFixture
    public let root: TempDirectory
    public let work: TempDirectory
    public let vsftpd: VsftpdFixture
    public let knownHosts: String

    public init() throws {
        sshd = try SSHDFixture()
        root = try TempDirectory("pool-root")
        work = try TempDirectory("pool-work")
        vsftpd = try VsftpdFixture(root: root.path, pasvAddress: "127.0.0.1", passivePortCount: 16, writable: true)
        knownHosts = try sshd.writeKnownHosts(in: work)
    }

    /// `ftptunnel connect --mode fixed -v` to this recipe (`identity` defaults to the fixture's user key).
    public func tunnel(sessions: Int?, identity: String? = nil, environment: [String: String] = [:]) throws -> TunnelProcess {
        try TunnelProcess(sshd: sshd, knownHosts: knownHosts, ftpPort: vsftpd.port, passivePorts: vsftpd.passivePorts,
                          identity: identity ?? sshd.userKey,
                          extraArguments: sessions.map { ["-o", "Sessions=\($0)"] } ?? [], environment: environment)
    }

    /// sshd's "Accepted publickey/password/… for USER" lines so far: one per authenticated SSH session
    /// (sshd ends its log lines with CRLF, one grapheme for Swift: split on any newline).
    public var authenticatedSessions: Int {
        sshd.log.split(whereSeparator: \.isNewline).filter { $0.contains("Accepted ") && $0.contains(" for ") }.count
    }
}

/// An SSH_ASKPASS program that records every invocation (one line per call in `log`) before answering.
public enum CountingAskpass {
    public static func environment(secret: String, log: String, in directory: TempDirectory) throws -> [String: String] {
        let script = try directory.write("counting-askpass.sh",
                                         "#!/bin/sh\necho asked >> '\(log)'\nprintf '%s\\n' '\(secret)'\n", mode: 0o700)
        return ["SSH_ASKPASS": script, "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"]
    }

    /// How many times the program ran.
    public static func invocations(_ log: String) -> Int {
        ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").count
    }
}
