import Testing
import CLibSSH2

/// Proves the system library links: libssh2 reports its version.
@Suite struct LibSSH2LinkTests {
    @Test func libssh2ReportsVersion() {
        let version = String(cString: libssh2_version(0))
        #expect(version.hasPrefix("1."))
    }
}
