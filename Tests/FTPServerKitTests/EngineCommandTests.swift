import FTPCore
import Testing
@testable import FTPServerKit

/// The engine driven alone through its command handling: each case is a command sequence written to a socket pair
/// and the replies it must get, against a `MemoryFileStore`. No data connections (see `EngineTransferTests`).
@Suite struct EngineCommandTests {
    /// The files every case starts with.
    static func store() -> MemoryFileStore {
        MemoryFileStore(texts: [
            "readme.txt": "hello, engine\n",
            "docs/guide.txt": "guide",
            "docs/notes.txt": "notes",
            "pub/a.txt": "a", "pub/b.txt": "bb", "pub/c.log": "ccc", "pub/.hidden.txt": "h",
            "pub/[x]": "literal", "pub/x": "x",
        ], directories: ["empty", "say\"hi"])
    }

    static let longName = String(repeating: "n", count: VirtualPath.maximumNameLength + 1)

    static let cases: [EngineCase] = [
        EngineCase("USER then PASS logs in; a wrong password gets the same refusal", login: .none, [
            Exchange("USER alice", 331, "Password required for alice."),
            Exchange("PASS wrong", 530, "Login incorrect."),
            Exchange("USER alice", 331),
            Exchange("PASS secret", 230, "Login successful."),
            Exchange("PWD", 257, "\"/\" is the current directory."),
        ]),
        EngineCase("before login only the login commands and a few harmless ones are served", login: .none, [
            Exchange("PWD", 530, "Please log in with USER and PASS."),
            Exchange("CWD docs", 530),
            Exchange("SIZE readme.txt", 530),
            Exchange("STAT readme.txt", 530),
            Exchange("PASS secret", 503, "Send USER first."),
            Exchange("USER", 501, "USER needs a name."),
            Exchange("NOOP", 200),
            Exchange("SYST", 215, "UNIX Type: L8"),
            Exchange("FEAT", 211, " SIZE\n", " MDTM\n", " REST STREAM\n"),
        ]),
        EngineCase("the third failed login closes the session", login: .none, [
            Exchange("USER alice", 331), Exchange("PASS one", 530),
            Exchange("USER alice", 331), Exchange("PASS two", 530),
            Exchange("USER mallory", 331), Exchange("PASS three", 421, "Too many failed logins"),
            Exchange("NOOP", nil),
        ]),
        EngineCase("anonymous is read-only", login: .anonymous, [
            Exchange("SIZE readme.txt", 213, "14"),
            Exchange("MKD new", 550, "Permission denied (read-only session)."),
            Exchange("DELE readme.txt", 550, "Permission denied"),
            Exchange("RNFR readme.txt", 550, "Permission denied"),
            Exchange("STOR upload.bin", 550, "Permission denied"),
            Exchange("SIZE readme.txt", 213, "14"),
        ]),
        EngineCase("a logged-in session cannot change user", [
            Exchange("USER bob", 530, "Already logged in; cannot change user."),
            Exchange("PASS secret", 230, "Already logged in."),
        ]),
        EngineCase("CWD, CDUP and PWD move inside the tree", [
            Exchange("CWD docs", 250, "Directory changed to /docs."),
            Exchange("PWD", 257, "\"/docs\" is the current directory."),
            Exchange("CWD missing", 550, "No such file or directory."),
            Exchange("CWD /readme.txt", 550, "Not a directory."),
            Exchange("CDUP", 250, "Directory changed to /."),
            Exchange("XCWD docs/../pub/./", 250, "Directory changed to /pub."),
            Exchange("CWD", 250, "Directory changed to /."),
            Exchange("XPWD", 257, "\"/\" is the current directory."),
        ]),
        EngineCase("PWD doubles a quote in a directory name (RFC 959 257)", [
            Exchange("CWD say\"hi", 250),
            Exchange("PWD", 257, "\"/say\"\"hi\" is the current directory."),
        ]),
        EngineCase("TYPE, MODE and STRU accept what the engine does and refuse the rest", [
            Exchange("TYPE I", 200, "Switching to Binary mode."),
            Exchange("TYPE A", 200, "Switching to ASCII mode"),
            Exchange("TYPE L 8", 200),
            Exchange("TYPE E", 504, "Only TYPE A and TYPE I are supported."),
            Exchange("TYPE", 504),
            Exchange("MODE S", 200), Exchange("MODE B", 504),
            Exchange("STRU F", 200), Exchange("STRU R", 504),
        ]),
        EngineCase("SIZE and MDTM report files and refuse the rest", [
            Exchange("SIZE readme.txt", 213, "14"),
            Exchange("SIZE docs", 550, "Not a regular file."),
            Exchange("SIZE nothing", 550, "No such file or directory."),
            Exchange("MDTM readme.txt", 213, "20231114221320"),
            Exchange("MDTM /docs/guide.txt", 213, "20231114221320"),
            Exchange("MDTM nothing", 550),
        ]),
        EngineCase("REST takes a non-negative decimal offset; RETR checks it against the size", [
            Exchange("REST 5", 350, "Restarting at 5."),
            Exchange("REST -1", 501, "REST needs a non-negative byte offset."),
            Exchange("REST abc", 501),
            Exchange("REST", 501),
            Exchange("REST 99999999999999999999", 501),
            Exchange("REST ٣", 501),
            Exchange("REST 15", 350),
            Exchange("RETR readme.txt", 550, "Restart offset beyond end of file."),
            Exchange("REST 14", 350),
            Exchange("RETR readme.txt", 425, "Use PASV or EPSV first."),
        ]),
        EngineCase("RNFR then RNTO renames; RNTO needs an RNFR right before it", [
            Exchange("RNFR readme.txt", 350, "Ready for RNTO."),
            Exchange("RNTO docs/moved.txt", 250, "Rename successful."),
            Exchange("SIZE docs/moved.txt", 213, "14"),
            Exchange("SIZE readme.txt", 550),
            Exchange("RNTO again.txt", 503, "Send RNFR first."),
            Exchange("RNFR docs/guide.txt", 350),
            Exchange("NOOP", 200),
            Exchange("RNTO guide.txt", 503, "Send RNFR first."),
            Exchange("RNFR nothing", 550, "No such file or directory."),
            Exchange("RNFR /", 550, "Not allowed on the root directory."),
            Exchange("RNFR docs", 350),
            Exchange("RNTO pub/docs", 250),
            Exchange("SIZE pub/docs/guide.txt", 213, "5"),
            Exchange("CWD docs", 550),
        ]),
        EngineCase("MKD, RMD and DELE change the tree and map the store's refusals to replies", [
            Exchange("MKD new", 257, "\"/new\" created."),
            Exchange("MKD new", 550, "File exists."),
            Exchange("RMD docs", 550, "Directory not empty."),
            Exchange("RMD new", 250, "Directory removed."),
            Exchange("DELE docs", 550, "Is a directory; use RMD."),
            Exchange("DELE readme.txt", 250, "File deleted."),
            Exchange("DELE readme.txt", 550, "No such file or directory."),
            Exchange("MKD /", 550, "Not allowed on the root directory."),
            Exchange("MKD missing/deeper", 550, "No such file or directory."),
        ]),
        EngineCase("MLST gives the facts OPTS MLST selected, on the control connection", [
            Exchange("MLST readme.txt", 250, "type=file;size=14;modify=20231114221320;perm=", " /readme.txt\n"),
            Exchange("OPTS MLST type;size;", 200, "MLST OPTS type;size;"),
            // A directory has no size fact.
            Exchange("MLST docs", 250, " type=dir; /docs\n", lacking: ["size=", "modify="]),
            Exchange("MLST", 250, " type=dir; /\n"),
            Exchange("MLST nothing", 550, "No such file or directory."),
            Exchange("OPTS MLST", 200, "MLST OPTS "),
            Exchange("MLST readme.txt", 250, " /readme.txt\n", lacking: ["type=", "size="]),
        ]),
        EngineCase("wildcards in the last component of STAT, LIST and NLST match one directory's names", [
            Exchange("STAT pub/*.txt", 213, " a.txt\n", " b.txt\n", lacking: ["c.log", ".hidden.txt"]),
            Exchange("STAT pub/.*.txt", 213, " .hidden.txt\n", lacking: [" a.txt"]),
            Exchange("STAT pub/?.log", 213, " c.log\n", lacking: ["a.txt"]),
            Exchange("STAT pub/[ab].txt", 213, " a.txt\n", " b.txt\n"),
            Exchange("STAT pub/[x]", 213, " [x]\n", lacking: [" x\n"]),
            Exchange("STAT pub/*.zzz", 213, lacking: ["a.txt", "c.log"]),
            Exchange("NLST pub/*.zzz", 550, "No files found."),
            Exchange("NLST pub/*.txt", 425, "Use PASV or EPSV first."),
            Exchange("STAT d*/guide.txt", 550, "No such file or directory."),
            Exchange("STAT readme.txt/*", 550, "No such directory."),
        ]),
        EngineCase("paths never climb above the root, and NUL bytes and long names are refused", [
            Exchange("SIZE ../../../../readme.txt", 213, "14"),
            Exchange("CWD ../../..", 250, "Directory changed to /."),
            Exchange("SIZE /docs/../../../etc/passwd", 550, "No such file or directory."),
            Exchange("CWD docs", 250),
            Exchange("SIZE ../readme.txt", 213, "14"),
            Exchange(bytes: Array("SIZE read".utf8) + [0] + Array("me.txt".utf8), 501, ["Path contains a NUL byte."]),
            Exchange(bytes: Array("CWD ..".utf8) + [0] + Array("/etc".utf8), 501, ["Path contains a NUL byte."]),
            Exchange("MKD \(longName)", 553, "Path or file name too long."),
            Exchange("SIZE a/\(longName)/b", 553, "Path or file name too long."),
            Exchange("PWD", 257, "\"/docs\""),
        ]),
        EngineCase("an overlong line is refused and the session goes on", [
            Exchange("NOOP " + String(repeating: "x", count: 5000), 500, "Command line too long (limit 4096 bytes)."),
            Exchange("NOOP", 200),
            // 4096 bytes is still a line: the path is refused, not the line.
            Exchange("SIZE " + String(repeating: "p", count: 4091), 553, "Path or file name too long."),
        ]),
        EngineCase("garbage and refused commands get their replies", [
            Exchange("12345", 500, "Syntax error, command unrecognized."),
            Exchange("", 500, "Syntax error, command unrecognized."),
            Exchange("FOOB", 500, "Unknown command FOOB."),
            Exchange("noop", 200),
            Exchange("AUTH TLS", 502, "TLS is not offered"),
            Exchange("PORT 127,0,0,1,4,1", 502, "Active mode refused"),
            Exchange("SITE CHMOD 644 readme.txt", 502),
            Exchange("MFMT 20200102030405 readme.txt", 502),
            Exchange(bytes: [0xFF, 0xF4, 0xFF, 0xF2] + Array("ABOR".utf8), 225, ["No transfer to abort."]),
            Exchange("EPSV 3", 522),
            Exchange("EPSV ALL", 200, "EPSV ALL ok."),
            Exchange("PASV", 503, "PASV not allowed after EPSV ALL."),
        ]),
        EngineCase("an HTTP request line closes the session without a reply", login: .none, [
            Exchange("GET / HTTP/1.1", nil),
            Exchange("NOOP", nil),
        ]),
        EngineCase("QUIT ends the session: nothing after it is answered", [
            Exchange("QUIT", 221, "Goodbye."),
            Exchange("NOOP", nil),
        ]),
    ]

    @Test(arguments: cases) func commandSequence(_ engineCase: EngineCase) throws {
        engineCase.check(try EngineConnection.replies(to: engineCase.script, store: Self.store()))
    }

    /// Whatever the client sends, the store is asked only about normalised paths: no `.`, `..` or empty components,
    /// no NUL byte (confining them is then the store's job, and it never sees an attempt to climb).
    @Test func theStoreSeesOnlyNormalisedPaths() throws {
        let store = Self.store()
        let hostile = Self.cases.first { $0.name.hasPrefix("paths never climb") }!
        hostile.check(try EngineConnection.replies(to: hostile.script, store: store))
        #expect(store.pathsSeen.contains(MemoryFileStore.path("readme.txt")))
        #expect(store.pathsSeen.contains(MemoryFileStore.path("etc/passwd")))
        for path in store.pathsSeen {
            #expect(!path.components.contains { $0.isEmpty || $0 == "." || $0 == ".." || $0.utf8.contains(0) }, "\(path)")
        }
    }

    /// The extra commands a server switches on reach the store.
    @Test func extraCommandsReachTheStoreWhenOffered() throws {
        let replies = try EngineConnection.replies(to: [
            "USER alice", "PASS secret", "FEAT", "SITE CHMOD 600 readme.txt", "MFMT 20200102030405 readme.txt",
            "MFMT 2020 readme.txt", "SITE CHMOD 999 readme.txt",
        ].map { Array($0.utf8) }, store: Self.store(), extraCommands: [.siteChmod, .modifyTime])
        // The memory store keeps no modes or times: the store's default refusal (ENOTSUP) comes back as 502.
        #expect(replies.map(\.code) == [220, 331, 230, 211, 502, 502, 501, 501])
        #expect(replies[3].lines.contains(" MFMT"))
        #expect(replies[4].text.contains("Not supported by this server."))
    }
}
