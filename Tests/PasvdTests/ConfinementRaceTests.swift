import Foundation
import Testing
import TestSupport

/// A local attacker inside the root swaps a directory with a symlink to outside (renameat2 RENAME_EXCHANGE) in a
/// tight loop while a client downloads from and uploads into that directory: the kernel-enforced confinement
/// must never serve the outside file nor write outside, however the race falls.
@Suite struct ConfinementRaceTests {
    static let insideContent = "INSIDE-the-root"
    static let outsideContent = "OUTSIDE-secret"
    /// How long the client keeps transferring while the racer swaps.
    static let clientSeconds = 10

    /// Swaps argv[1] and argv[2] with RENAME_EXCHANGE until argv[3] seconds passed; prints the swap count.
    static let racer = """
    import ctypes, os, sys, time
    libc = ctypes.CDLL(None, use_errno=True)
    AT_FDCWD, RENAME_EXCHANGE = -100, 2
    a, b, end = sys.argv[1].encode(), sys.argv[2].encode(), time.monotonic() + float(sys.argv[3])
    swaps = 0
    print('racing', flush=True)
    while time.monotonic() < end:
        if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
            sys.exit('renameat2: ' + os.strerror(ctypes.get_errno()))
        swaps += 1
    print('swaps', swaps)
    """

    /// RETRs race/secret.txt and STORs race/x for argv[1] seconds; prints the counts.
    static let client = """
    import io, time
    end = time.monotonic() + float(sys.argv[1])
    counts = {'inside': 0, 'outside': 0, 'refused': 0, 'stored': 0, 'store_refused': 0}
    while time.monotonic() < end:
        chunks = []
        try:
            ftp.retrbinary('RETR race/secret.txt', chunks.append)
            data = b''.join(chunks).decode()
            counts['inside' if data == sys.argv[2] else 'outside' if data == sys.argv[3] else 'refused'] += 1
        except ftplib.error_perm:
            counts['refused'] += 1
        try:
            ftp.storbinary('STOR race/x', io.BytesIO(b'upload'))
            counts['stored'] += 1
        except ftplib.error_perm:
            counts['store_refused'] += 1
    print(' '.join(f'{k}={v}' for k, v in counts.items()))
    """

    @Test func renameExchangeRaceNeverEscapes() throws {
        let s = try PasvdScenario()
        let outside = try s.directory.makeDirectory("outside")
        try s.directory.write("outside/secret.txt", Self.outsideContent)
        _ = try s.directory.makeDirectory("root/race")
        try s.directory.write("root/race/secret.txt", Self.insideContent)
        // The decoy names the outside directory absolutely, as an attacker would.
        #expect(symlink(outside, s.path("decoy")) == 0)

        let racer = try ManagedProcess(try which("python3"), ["-c", Self.racer, s.path("race"), s.path("decoy"),
                                                              "\(Self.clientSeconds + 3)"])
        try racer.waitForOutput(containing: "racing")
        let result = try FTPClients.python(host: s.host, port: s.port, body: Self.client,
                                           args: ["\(Self.clientSeconds)", Self.insideContent, Self.outsideContent],
                                           seconds: Double(Self.clientSeconds + 30))
        #expect(try racer.waitForExit(seconds: 30) == 0, "\(racer.output)")
        expectSuccess(result, "client loop")
        let counts = Dictionary(uniqueKeysWithValues: result.stdout.split(whereSeparator: \.isWhitespace).compactMap {
            part -> (String, Int)? in
            let pair = part.split(separator: "=")
            return pair.count == 2 ? (String(pair[0]), Int(pair[1]) ?? -1) : nil
        })
        print("race: \(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)); \(racer.stdout.split(separator: "\n").last ?? "")")
        let written = try FileManager.default.contentsOfDirectory(atPath: outside).filter { $0 != "secret.txt" }
        #expect(counts["outside"] == 0, "outside file served: \(result.stdout)")
        #expect(written.isEmpty, "written outside: \(written)")
        // The race really ran: both outcomes of the swap were hit, many times.
        #expect((counts["inside"] ?? 0) > 10 && (counts["refused"] ?? 0) > 10, "\(result.stdout)")
        #expect((counts["stored"] ?? 0) > 10, "\(result.stdout)")
    }
}
