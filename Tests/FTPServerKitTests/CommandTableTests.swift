import Testing
@testable import FTPServerKit

/// One table drives dispatch, the login check, FEAT and HELP.
@Suite struct CommandTableTests {
    @Test func everyVerbAppearsOnce() {
        let verbs = CommandTable.commands.flatMap(\.verbs)
        #expect(verbs.count == Set(verbs).count)
        #expect(CommandTable.byVerb.count == verbs.count)
    }

    @Test func onlyTheLoginAndGreetingCommandsWorkBeforeLogin() {
        let open = Set(CommandTable.commands.filter { !$0.needsLogin }.flatMap(\.verbs))
        #expect(open == ["USER", "PASS", "QUIT", "NOOP", "SYST", "FEAT", "HELP", "OPTS", "AUTH"])
    }

    @Test func featAndHelpComeFromTheTable() {
        #expect(CommandTable.features(offering: []) == ["EPSV", "MDTM", "MLST type*;size*;modify*;perm*;", "REST STREAM", "SIZE", "TVFS", "UTF8"])
        let help = Set(CommandTable.helpVerbs(offering: []))
        for refused in ["PORT", "EPRT", "AUTH", "PBSZ", "SITE", "MFMT"] { #expect(!help.contains(refused), "\(refused)") }
        for implemented in ["RETR", "STOR", "APPE", "STOU", "MLSD", "EPSV", "REST", "ABOR"] { #expect(help.contains(implemented)) }
    }

    /// Commands a server switches on (the SFTP bridge: active mode, SITE CHMOD, MFMT) appear in FEAT and HELP only then.
    @Test func extraCommandsAreListedOnlyWhenOffered() {
        let all: Set<ExtraCommand> = [.activeMode, .siteChmod, .modifyTime]
        #expect(CommandTable.features(offering: all).contains("MFMT"))
        #expect(!CommandTable.features(offering: [.activeMode]).contains("MFMT"))
        let help = Set(CommandTable.helpVerbs(offering: all))
        for verb in ["PORT", "EPRT", "SITE", "MFMT"] { #expect(help.contains(verb), "\(verb)") }
        #expect(!help.contains("LPRT"))
    }
}
