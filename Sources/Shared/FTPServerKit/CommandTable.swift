import FTPCore

/// The one list of commands: verbs, whether they need a login, the FEAT line and HELP entry they contribute,
/// and their handler. Dispatch, the pre-login check, FEAT and HELP all read this table.
struct Command: Sendable {
    let verbs: [String]
    let needsLogin: Bool
    /// The FEAT line this command contributes (RFC 2389), if any.
    let feature: String?
    /// Listed by HELP (refused commands are recognised but not advertised).
    let inHelp: Bool
    /// Set for commands a server must switch on; FEAT and HELP list them only then (their handlers refuse
    /// when off).
    let extra: ExtraCommand?
    let handle: @Sendable (Session, String) -> Void

    init(_ verbs: [String], login: Bool = true, feature: String? = nil, help: Bool = true, extra: ExtraCommand? = nil,
         _ handle: @escaping @Sendable (Session, String) -> Void) {
        self.verbs = verbs
        needsLogin = login
        self.feature = feature
        inHelp = help
        self.extra = extra
        self.handle = handle
    }

    func isOffered(_ extras: Set<ExtraCommand>) -> Bool { extra.map(extras.contains) ?? true }
}

enum CommandTable {
    static let tlsRefusal = "TLS is not offered: the control connection runs inside the SSH tunnel."
    static let activeRefusal = "Active mode refused: the server never connects out; use passive mode (PASV/EPSV)."

    static let commands: [Command] = [
        Command(["USER"], login: false) { $0.user($1) },
        Command(["PASS"], login: false) { $0.pass($1) },
        Command(["QUIT"], login: false) { session, _ in
            session.reply(ReplyCode.closingControl, "Goodbye.")
            session.shouldClose = true
        },
        Command(["NOOP"], login: false) { session, _ in session.reply(ReplyCode.commandOK, "NOOP ok.") },
        Command(["SYST"], login: false) { session, _ in session.reply(ReplyCode.systemType, "UNIX Type: L8") },
        Command(["FEAT"], login: false) { session, _ in session.feat() },
        Command(["OPTS"], login: false, feature: "UTF8") { $0.opts($1) },
        Command(["HELP"], login: false) { session, _ in session.help() },
        Command(["AUTH"], login: false, help: false) { session, _ in session.reply(ReplyCode.notImplemented, tlsRefusal) },
        Command(["PBSZ", "PROT"], help: false) { session, _ in session.reply(ReplyCode.notImplemented, tlsRefusal) },
        Command(["STAT"]) { $0.stat($1) },
        Command(["TYPE"]) { $0.type($1) },
        Command(["MODE"]) { $0.mode($1) },
        Command(["STRU"]) { $0.structure($1) },
        Command(["ALLO"]) { session, _ in session.reply(ReplyCode.commandSuperfluous, "ALLO not needed.") },
        Command(["PWD", "XPWD"]) { session, _ in session.printDirectory() },
        Command(["CWD", "XCWD"], feature: "TVFS") { $0.changeDirectory($1) },
        Command(["CDUP", "XCUP"]) { session, _ in session.changeDirectory("..") },
        Command(["MKD", "XMKD"]) { $0.makeDirectory($1) },
        Command(["RMD", "XRMD"]) { $0.removeDirectory($1) },
        Command(["DELE"]) { $0.delete($1) },
        Command(["RNFR"]) { $0.renameFrom($1) },
        Command(["RNTO"]) { $0.renameTo($1) },
        Command(["SIZE"], feature: "SIZE") { $0.size($1) },
        Command(["MDTM"], feature: "MDTM") { $0.modificationTime($1) },
        Command(["PASV"]) { $0.enterPassive(extended: false, $1) },
        Command(["EPSV"], feature: "EPSV") { $0.enterPassive(extended: true, $1) },
        Command(["PORT"], extra: .activeMode) { $0.enterActive(extended: false, $1) },
        Command(["EPRT"], extra: .activeMode) { $0.enterActive(extended: true, $1) },
        Command(["LPRT"], help: false) { session, _ in session.reply(ReplyCode.notImplemented, activeRefusal) },
        Command(["REST"], feature: "REST STREAM") { $0.restart($1) },
        Command(["ABOR"]) { session, _ in session.reply(ReplyCode.dataConnectionOpen, "No transfer to abort.") },
        Command(["RETR"]) { $0.retrieve($1) },
        Command(["STOR"]) { $0.store($1, mode: .replace) },
        Command(["APPE"]) { $0.store($1, mode: .append) },
        Command(["STOU"]) { $0.store($1, mode: .unique) },
        Command(["LIST"]) { $0.list($1, style: .long) },
        Command(["NLST"]) { $0.list($1, style: .names) },
        Command(["MLSD"]) { $0.list($1, style: .machine) },
        Command(["MLST"], feature: "MLST type*;size*;modify*;perm*;") { $0.machineListSingle($1) },
        Command(["SITE"], extra: .siteChmod) { $0.site($1) },
        Command(["MFMT"], feature: "MFMT", extra: .modifyTime) { $0.setModificationTime($1) },
        Command(["ACCT", "REIN", "SMNT", "LPSV"], help: false) { session, _ in
            session.reply(ReplyCode.notImplemented, "Command not implemented.")
        },
    ]

    /// Verb → command.
    static let byVerb: [String: Command] = {
        var table: [String: Command] = [:]
        for command in commands { for verb in command.verbs { table[verb] = command } }
        return table
    }()

    /// FEAT lines, sorted: exactly the extensions the table implements and the server offers.
    static func features(offering extras: Set<ExtraCommand>) -> [String] {
        commands.filter { $0.isOffered(extras) }.compactMap(\.feature).sorted()
    }

    /// HELP's verbs, sorted.
    static func helpVerbs(offering extras: Set<ExtraCommand>) -> [String] {
        commands.filter { $0.inHelp && $0.isOffered(extras) }.flatMap(\.verbs).sorted()
    }
}
