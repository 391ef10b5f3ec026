import Foundation
import Testing

/// Mode sftp in profiles and on the command line: SFTPRoot, and the listener that must stay on loopback.
@Suite struct SFTPModeSettingsTests {
    @Test func profileSetsModeAndRoot() throws {
        let world = try ProfileTestWorld()
        try world.profile("files", "HostName files.example.org", "Mode sftp", "SFTPRoot /srv/www", "LocalPort 2121")
        let resolved = try world.resolve("files")
        #expect(resolved.settings.mode == .sftp)
        #expect(resolved.settings.sftpRoot == "/srv/www")
        #expect(resolved.entries.contains { $0.keyword == "SFTPRoot" && $0.value == "/srv/www" })
    }

    @Test func commandLineWinsAndRootDefaultsToTheLoginDirectory() throws {
        let world = try ProfileTestWorld()
        try world.profile("files", "HostName files.example.org", "Mode rewrite")
        let plain = try world.resolve("files") { $0.mode = "sftp" }
        #expect(plain.settings.mode == .sftp)
        #expect(plain.settings.sftpRoot == nil)
        #expect(plain.entries.contains { $0.keyword == "SFTPRoot" && $0.value == nil && $0.source.contains("login directory") })
        let rooted = try world.resolve("files") { $0.mode = "sftp"; $0.sftpRoot = "public_html" }
        #expect(rooted.settings.sftpRoot == "public_html")
    }

    @Test func sftpUploadsDefaultsToAtomicAndTakesImmediate() throws {
        let world = try ProfileTestWorld()
        try world.profile("plain", "HostName files.example.org", "Mode sftp")
        let plain = try world.resolve("plain")
        #expect(plain.settings.sftpUploads == .atomic)
        #expect(plain.entries.contains { $0.keyword == "SFTPUploads" && $0.value == "atomic" })
        try world.profile("visible", "HostName files.example.org", "Mode sftp", "sftpuploads Immediate")
        let visible = try world.resolve("visible")
        #expect(visible.settings.sftpUploads == .immediate)
        #expect(visible.entries.contains { $0.keyword == "SFTPUploads" && $0.value == "immediate" })
    }

    @Test func anUnknownSFTPUploadsValueNamesTheLineAndTheChoices() throws {
        let error = try ProfileTestWorld().profileError(["HostName h.example.org", "Mode sftp", "SFTPUploads visible"])
        #expect(error.description.contains("p.conf:3"), "\(error)")
        #expect(error.description.contains("atomic") && error.description.contains("immediate"), "\(error)")
    }

    @Test func sftpStreamsDefaultsToEightAndTakesOneToSixtyFour() throws {
        let world = try ProfileTestWorld()
        try world.profile("plain", "HostName files.example.org", "Mode sftp")
        let plain = try world.resolve("plain")
        #expect(plain.settings.sftpStreams == 8)
        #expect(plain.entries.contains { $0.keyword == "SFTPStreams" && $0.value == "8" })
        try world.profile("one", "HostName files.example.org", "Mode sftp", "sftpstreams 1")
        #expect(try world.resolve("one").settings.sftpStreams == 1)
        try world.profile("many", "HostName files.example.org", "Mode sftp", "SFTPStreams=64")
        #expect(try world.resolve("many").settings.sftpStreams == 64)
    }

    @Test(arguments: ["SFTPStreams 0", "SFTPStreams 65", "SFTPStreams many", "SFTPStreams 4x", "SFTPStreams"])
    func aMalformedSFTPStreamsValueNamesTheLineAndTheRange(line: String) throws {
        let error = try ProfileTestWorld().profileError(["HostName h.example.org", "Mode sftp", line])
        #expect(error.description.contains("p.conf:3"), "\(error)")
        #expect(error.description.contains("SFTPStreams"), "\(error)")
        if line != "SFTPStreams" { #expect(error.description.contains("1 to 64"), "\(error)") }
    }

    @Test(arguments: ["GatewayPorts yes", "BindAddress 0.0.0.0", "BindAddress 192.168.1.5"])
    func listenersOpenToTheNetworkAreRefused(line: String) throws {
        let error = try ProfileTestWorld().profileError(["HostName h.example.org", "Mode sftp", line])
        #expect(error.description.contains("p.conf:3"), "\(error)")
        #expect(error.description.contains("cannot be used with Mode sftp"), "\(error)")
        #expect(error.description.contains("127.0.0.1 and ::1 only"), "\(error)")
    }

    @Test(arguments: ["BindAddress 127.0.0.1", "GatewayPorts no", "BindAddress ::1"])
    func loopbackListenersAreFine(line: String) throws {
        let world = try ProfileTestWorld()
        try world.profile("p", "HostName h.example.org", "Mode sftp", line)
        #expect(try world.resolve("p").settings.mode == .sftp)
    }

    @Test(arguments: ["SFTPRoot \"a\tb\"", "SFTPRoot \"\""])
    func unusableRootsNameTheLine(line: String) throws {
        let error = try ProfileTestWorld().profileError(["HostName h.example.org", "Mode sftp", line])
        #expect(error.description.contains("p.conf:3"), "\(error)")
        #expect(error.description.contains("SFTPRoot"), "\(error)")
    }
}
