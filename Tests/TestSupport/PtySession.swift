import Foundation

/// A program run on a real pseudo-terminal (python3's pty module), driven by a script of "wait for this text,
/// then type that": for prompts and Ctrl-C as a person meets them. The transcript is what the terminal showed
/// (the pty's echo included, newlines as CR LF).
public enum PtySession {
    public struct Step: Sendable {
        public let expect: String
        public let send: String
        public init(expect: String, send: String) {
            self.expect = expect
            self.send = send
        }
    }

    public struct Result: Sendable {
        public let transcript: String
        /// Exit status, 128+N when killed by signal N; nil when a step's text never came.
        public let status: Int32?
        public let failure: String?
    }

    static let script = #"""
    import json, os, pty, select, sys, time
    steps = json.loads(sys.argv[1]); deadline = time.time() + float(sys.argv[2]); out = sys.argv[3]
    argv = sys.argv[4:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    seen = b""
    def read_some(until):
        global seen
        r, _, _ = select.select([fd], [], [], max(0, min(0.2, until - time.time())))
        if r:
            try:
                data = os.read(fd, 4096)
            except OSError:
                return False
            if not data:
                return False
            seen += data
        return True
    failure = None
    position = 0
    for step in steps:
        want = step["expect"].encode()
        while want not in seen[position:]:
            if time.time() > deadline or not read_some(deadline):
                failure = "never saw %r" % step["expect"]
                break
        if failure:
            break
        position = seen.index(want, position) + len(want)
        os.write(fd, step["send"].encode())
    status = None
    while time.time() < deadline:
        done, code = os.waitpid(pid, os.WNOHANG)
        if done:
            status = os.WEXITSTATUS(code) if os.WIFEXITED(code) else 128 + os.WTERMSIG(code)
            break
        read_some(deadline)
    while read_some(time.time() + 0.2) and time.time() < deadline + 1:
        pass
    if status is None:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    open(out, "wb").write(seen)
    print(json.dumps({"status": status, "failure": failure}))
    """#

    /// Runs `executable arguments` on a pty with `environment`, performing `steps` in order, within `seconds`.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String],
                           steps: [Step], seconds: Double = 60) throws -> Result {
        let scratch = try TempDirectory("pty")
        let stepsJSON = String(decoding: try JSONSerialization.data(withJSONObject: steps.map { ["expect": $0.expect, "send": $0.send] }), as: UTF8.self)
        let transcriptPath = scratch.file("transcript")
        let result = try runCommand("/usr/bin/python3", ["-c", script, stepsJSON, "\(seconds)", transcriptPath, executable] + arguments,
                                    seconds: seconds + 30, environment: environment)
        let transcript = (try? String(contentsOfFile: transcriptPath, encoding: .utf8)) ?? ""
        guard let data = result.stdout.split(separator: "\n").last.map({ Data($0.utf8) }),
              let report = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            return Result(transcript: transcript, status: nil, failure: "pty driver failed: \(result.output)")
        }
        return Result(transcript: transcript, status: (report["status"] as? Int).map { Int32($0) },
                      failure: report["failure"] as? String)
    }
}
