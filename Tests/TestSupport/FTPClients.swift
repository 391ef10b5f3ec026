import Foundation

/// Real FTP clients driven as processes. Every call returns the command's result; tests check status and files.
public enum FTPClients {
    /// `curl` with sane test defaults (no progress, fail on FTP errors, bounded time).
    public static func curl(_ arguments: [String], seconds: Double = 300) throws -> CommandResult {
        try runCommand("curl", ["-sS", "--max-time", "\(Int(seconds))", "--connect-timeout", "10"] + arguments,
                       seconds: seconds + 10)
    }

    /// `lftp -c SCRIPT` against `url` with passive mode and no retries.
    public static func lftp(url: String, user: String = "anonymous", password: String = "test@",
                            script: [String], seconds: Double = 300) throws -> CommandResult {
        let preamble = [
            "set ftp:passive-mode on", "set net:max-retries 1", "set net:timeout 20",
            "set net:reconnect-interval-base 1", "set ftp:ssl-allow no", "set xfer:clobber on",
            "set cmd:fail-exit yes",
            "open -u '\(user)','\(password)' \(url)",
        ]
        return try runCommand("lftp", ["-c", (preamble + script).joined(separator: "; ")], seconds: seconds)
    }

    /// inetutils `ftp` (the BSD client many scripts use) in passive mode, without auto-login, reading `commands`
    /// (after `user USER PASSWORD`, `binary` and `prompt` off) from its standard input, in `directory`.
    public static func inetutils(host: String, port: Int, user: String = "anonymous", password: String = "test@",
                                 commands: [String], directory: String, seconds: Double = 120) throws -> CommandResult {
        let script = (["user \(user) \(password)", "binary", "prompt"] + commands + ["bye"]).joined(separator: "\n") + "\n"
        return try runCommand("/usr/bin/inetutils-ftp", ["-n", "-v", "-p", host, "\(port)"], seconds: seconds,
                              input: script, currentDirectory: directory)
    }

    /// Runs a Python ftplib snippet. `ftp` is a logged-in `ftplib.FTP` object; `args` arrive as `sys.argv[1:]`.
    public static func python(host: String, port: Int, user: String = "anonymous", password: String = "test@",
                              body: String, args: [String] = [], seconds: Double = 300) throws -> CommandResult {
        let script = """
        import ftplib, sys, hashlib, os
        ftp = ftplib.FTP()
        ftp.connect(\(pythonString(host)), \(port), timeout=30)
        ftp.login(\(pythonString(user)), \(pythonString(password)))
        \(body)
        ftp.quit()
        """
        return try runCommand("python3", ["-c", script] + args, seconds: seconds)
    }

    private static func pythonString(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }
}

/// A raw control connection for hostile-input tests: send exact bytes, read replies.
public final class RawFTPControl: @unchecked Sendable {
    public let fd: Int32
    private var pending = ""

    public init(host: String, port: Int, from source: String? = nil) throws {
        guard let fd = LoopbackNet.connect(host, port, from: source) else { throw POSIXError(.ECONNREFUSED) }
        self.fd = fd
    }

    public func send(_ text: String) { sendBytes(Array(text.utf8)) }

    /// How long one read waits before `readReply` gives up (5 s from `LoopbackNet.connect`).
    public func setReadTimeout(seconds: Int) {
        var timeout = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    public func sendBytes(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Reads one complete reply (multi-line aware) or nil when the server closed the connection.
    public func readReply() -> String? {
        var lines: [String] = []
        while let line = readLine() {
            lines.append(line)
            let chars = Array(line)
            if lines.count == 1 {
                if chars.count >= 4, chars[3] == "-" { continue }
                return line
            }
            if chars.count >= 4, String(chars[0..<3]) == String(Array(lines[0])[0..<3]), chars[3] == " " {
                return lines.joined(separator: "\n")
            }
        }
        return lines.isEmpty ? nil : lines.joined(separator: "\n")
    }

    /// Sends `command` + CRLF and reads the reply.
    @discardableResult
    public func command(_ command: String) -> String? {
        send(command + "\r\n")
        return readReply()
    }

    /// True when the server has closed the connection (read returns 0 or an error within 5 s).
    public func isClosedByServer() -> Bool {
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n <= 0 { return true }
        }
    }

    private func readLine() -> String? {
        while true {
            if let range = pending.range(of: "\n") {
                let line = String(pending[..<range.lowerBound]).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))
                pending = String(pending[range.upperBound...])
                return line
            }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { return nil }
            pending += String(decoding: buffer[0..<n], as: UTF8.self)
        }
    }

    deinit { close(fd) }
}
