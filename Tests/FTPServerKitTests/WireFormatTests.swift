import Testing
@testable import FTPServerKit

@Suite struct ReplyFormatTests {
    @Test func singleAndMultiLine() {
        #expect(Reply(200, "OK.").wire == "200 OK.\r\n")
        let feat = Reply(211, first: "Features:", body: ["EPSV", "SIZE"], last: "End").wire
        #expect(feat == "211-Features:\r\n EPSV\r\n SIZE\r\n211 End\r\n")
    }

    @Test func noLineBreakInjection() {
        #expect(Reply(550, "bad\r\n230 name").wire == "550 bad  230 name\r\n")
    }

    @Test func featListsExactlyTheImplementedExtensions() {
        #expect(Session.features == ["EPSV", "MDTM", "MLST type*;size*;modify*;perm*;", "REST STREAM", "SIZE", "TVFS", "UTF8"])
    }
}

@Suite struct FileFactsTests {
    let file = FileFacts(kind: .file, size: 5_000_000_000, modified: 1_700_000_000, mode: 0o644)
    let directory = FileFacts(kind: .directory, size: 4096, modified: 0, mode: 0o755, links: 2)

    @Test func machineFacts() {
        #expect(file.timestamp == "20231114221320")
        #expect(file.machineFacts(selected: ["type", "size", "modify", "perm"], writable: false)
                == "type=file;size=5000000000;modify=20231114221320;perm=r;")
        #expect(directory.machineFacts(selected: ["type", "perm"], writable: true) == "type=dir;perm=elcmpdf;")
        #expect(file.machineFacts(selected: [], writable: true) == "")
    }

    @Test func listLines() {
        #expect(file.listLine(name: "big", now: 1_700_000_100)
                == "-rw-r--r--    1 ftp      ftp        5000000000 Nov 14 22:13 big")
        #expect(directory.listLine(name: "d", now: 1_700_000_000)
                == "drwxr-xr-x    2 ftp      ftp              4096 Jan 01  1970 d")
    }
}
