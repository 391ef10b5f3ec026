import Foundation
import Testing

/// CertificateFile (repeatable, accumulated over sources like IdentityFile, tokens expanded) and IdentityAgent
/// (`none`, `SSH_AUTH_SOCK`, a path; first source wins), from profiles, ~/.ssh/config and -o.
@Suite struct ProfileIdentityKeywordTests {
    @Test func certificateFilesAccumulateOverSourcesWithTokensExpanded() throws {
        let world = try ProfileTestWorld()
        try world.sshConfig("Host site", "  CertificateFile ~/.ssh/%r-cert.pub", "  IdentityAgent ~/.agent/%h.sock")
        try world.profile("site", "HostName site", "User deploy", "CertificateFile ~/certs/site-cert.pub")
        let resolved = try world.resolve("site") { $0.options = ["CertificateFile=/etc/ssh/cli-cert.pub"] }
        let h = world.home
        #expect(resolved.settings.certificateFiles == ["/etc/ssh/cli-cert.pub", "\(h)/certs/site-cert.pub", "\(h)/.ssh/deploy-cert.pub"])
        #expect(resolved.settings.identityAgent == "\(h)/.agent/site.sock")
        #expect(resolved.sources["IdentityAgent"] == "~/.ssh/config:3")
    }

    @Test func identityAgentKeepsItsKeywordsLiteral() throws {
        let world = try ProfileTestWorld()
        try world.profile("a", "HostName h", "IdentityAgent none")
        #expect(try world.resolve("a").settings.identityAgent == "none")
        try world.profile("b", "HostName h", "IdentityAgent SSH_AUTH_SOCK")
        #expect(try world.resolve("b").settings.identityAgent == "SSH_AUTH_SOCK")
        try world.profile("c", "HostName h")
        #expect(try world.resolve("c").settings.identityAgent == nil)
        #expect(try world.resolve("c").settings.certificateFiles.isEmpty)
    }

    @Test func emptyOrConflictingValuesAreErrorsNamingTheLine() throws {
        let world = try ProfileTestWorld()
        let empty = try world.profileError(["HostName h", "CertificateFile="])
        #expect(empty.description.contains("p.conf:2"), "\(empty)")
        let twice = try world.profileError(["HostName h", "IdentityAgent none", "IdentityAgent /tmp/a.sock"])
        #expect(twice.description.contains("p.conf:3"), "\(twice)")
    }
}
