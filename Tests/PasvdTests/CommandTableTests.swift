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
        #expect(CommandTable.features == ["EPSV", "MDTM", "MLST type*;size*;modify*;perm*;", "REST STREAM", "SIZE", "TVFS", "UTF8"])
        let help = Set(CommandTable.helpVerbs)
        for refused in ["PORT", "EPRT", "AUTH", "PBSZ", "SITE"] { #expect(!help.contains(refused), "\(refused)") }
        for implemented in ["RETR", "STOR", "APPE", "STOU", "MLSD", "EPSV", "REST", "ABOR"] { #expect(help.contains(implemented)) }
    }
}
