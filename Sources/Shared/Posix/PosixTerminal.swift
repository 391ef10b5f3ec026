import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The terminal a prompt talks to: opening the controlling terminal, reading a line with echo off, and putting echo
/// back when a signal ends the process in the middle of a prompt.
public enum PosixTerminal {
    private static let lock = NSLock()
    /// The settings to restore while a prompt has echo off (nil otherwise), and the descriptor they belong to.
    nonisolated(unsafe) private static var saved: (fd: Int32, settings: termios)?

    /// /dev/tty opened read-write (close-on-exec), nil when the process has no controlling terminal.
    public static func openControlling() -> Int32? {
        let fd = open("/dev/tty", O_RDWR | O_CLOEXEC)
        return fd >= 0 ? fd : nil
    }

    /// True when the process has a controlling terminal.
    public static var hasControlling: Bool {
        guard let fd = openControlling() else { return false }
        close(fd)
        return true
    }

    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// True when `fd` is a terminal that echoes control characters (ECHOCTL), i.e. Ctrl-C shows as `^C`.
    public static func echoesControlCharacters(_ fd: Int32) -> Bool {
        var settings = termios()
        guard isatty(fd) == 1, tcgetattr(fd, &settings) == 0 else { return false }
        return settings.c_lflag & tcflag_t(ECHOCTL) != 0
    }

    /// Runs `body` with echo off on `fd` when it is a terminal (as it is otherwise), then restores its settings
    /// and ends the silent line with a newline on `output` (nil: `fd`).
    public static func withoutEcho<T>(_ fd: Int32, newlineTo output: Int32? = nil, _ body: () throws -> T) rethrows -> T {
        var settings = termios()
        guard tcgetattr(fd, &settings) == 0 else { return try body() }
        var quiet = settings
        quiet.c_lflag &= ~tcflag_t(ECHO)
        lock.lock(); saved = (fd, settings); lock.unlock()
        _ = tcsetattr(fd, TCSAFLUSH, &quiet)
        defer {
            _ = tcsetattr(fd, TCSAFLUSH, &settings)
            lock.lock(); saved = nil; lock.unlock()
            write(output ?? fd, "\n")
        }
        return try body()
    }

    /// Puts echo back if a prompt had turned it off (a signal during a prompt, before the process exits).
    public static func restoreEcho() {
        lock.lock(); defer { lock.unlock() }
        guard let entry = saved else { return }
        var settings = entry.settings
        _ = tcsetattr(entry.fd, TCSAFLUSH, &settings)
        write(entry.fd, "\n")
        saved = nil
    }

    /// Writes `text` to `fd` (a prompt); a short or failed write is not retried beyond EINTR.
    public static func write(_ fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }

    /// Reads one line (up to LF or CR, not included, at most `limit` bytes) from `fd`; nil at end of input or an
    /// error before any byte.
    public static func readLine(_ fd: Int32, limit: Int = 4096) -> [UInt8]? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while line.count < limit {
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return line.isEmpty ? nil : line }
            if byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r") { break }
            line.append(byte)
        }
        return line
    }

    /// Reads everything from `fd` until end of input, at most `limit` bytes (the rest is read and dropped).
    public static func readAll(_ fd: Int32, limit: Int) -> [UInt8] {
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return output }
            output += buffer[0..<min(n, max(0, limit - output.count))]
        }
    }
}
