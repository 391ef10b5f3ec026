import FTPCore

/// What established an FTP control session's state, learnt from commands and their replies, so the session can be
/// rebuilt on a new server connection: the login (USER/PASS/ACCT, held in memory only), the directory (absolute
/// from the last PWD or absolute CWD, then the successful CWD/CDUP since), TYPE, MODE, STRU and OPTS UTF8, and the
/// state left for a later command: a REST offset (until a transfer command uses it, as pasvd and vsftpd keep it)
/// and an RNFR source (until the next command, RFC 959 §4.1.3). Only commands the server accepted set state; a
/// command consumes state whatever its reply. Bounded: past `maximumDirectorySteps` the directory cannot be
/// rebuilt.
public struct ControlSessionMemory: Sendable, Equatable {
    public private(set) var user: String?
    public private(set) var password: String?
    public private(set) var account: String?
    /// The last absolute directory known (a PWD reply or an absolute CWD).
    public private(set) var directory: String?
    /// CWD arguments (or "CDUP" as nil) after `directory`, in order.
    public private(set) var directorySteps: [String?] = []
    public private(set) var directoryLost = false
    /// Verb → argument for TYPE, MODE, STRU and OPTS.
    public private(set) var settings: [(verb: String, argument: String)] = []
    /// REST's offset (the argument as sent), answered 350 and not yet used by a transfer.
    public private(set) var restartOffset: String?
    /// RNFR's path, answered 350, for an RNTO that must be the very next command.
    public private(set) var renameSource: String?

    public static let maximumDirectorySteps = 64
    /// The commands that use up a pending REST offset (on the server too, whatever their reply).
    public static let restartConsumers: Set<String> = ["RETR", "STOR", "STOU", "APPE"]

    public init() {}

    /// Records `command` once the server answered it with `code`; `text` is the reply's first line.
    public mutating func observe(_ command: FTPCommandLine, code: Int, text: String) {
        presumeConsumed(by: command)
        let accepted = (200..<400).contains(code)
        switch command.verb {
        case "USER":
            guard accepted else { return }
            self = ControlSessionMemory()
            user = command.argument
        case "PASS":
            if accepted { password = command.argument }
        case "ACCT":
            if accepted { account = command.argument }
        case "REIN":
            if accepted { self = ControlSessionMemory() }
        case "CWD", "XCWD":
            guard accepted else { return }
            if command.argument.hasPrefix("/") {
                directory = command.argument
                directorySteps = []
                directoryLost = false
            } else {
                addStep(command.argument)
            }
        case "CDUP", "XCUP":
            if accepted { addStep(nil) }
        case "PWD", "XPWD":
            guard code == ReplyCode.pathCreated, let path = Self.quotedPath(text) else { return }
            directory = path
            directorySteps = []
            directoryLost = false
        case "TYPE", "MODE", "STRU":
            guard accepted else { return }
            settings.removeAll { $0.verb == command.verb }
            settings.append((command.verb, command.argument))
        case "OPTS":
            guard accepted, command.argument.uppercased().hasPrefix("UTF8") else { return }
            settings.removeAll { $0.verb == "OPTS" }
            settings.append(("OPTS", command.argument))
        case "REST":
            if code == ReplyCode.pendingFurtherInformation { restartOffset = command.argument }
        case "RNFR":
            if code == ReplyCode.pendingFurtherInformation { renameSource = command.argument }
        default:
            return
        }
    }

    /// `command` reached the server, or may have (it was lost with the session): the state it uses up is gone.
    /// Any command but RNFR ends a pending rename; a transfer uses up the REST offset.
    public mutating func presumeConsumed(by command: FTPCommandLine) {
        if command.verb != "RNFR" { renameSource = nil }
        if Self.restartConsumers.contains(command.verb) { restartOffset = nil }
    }

    /// The replayed RNFR was refused (the source is gone): the RNTO that follows goes to the server without it,
    /// which refuses it (503), so no wrong rename can happen.
    mutating func forgetRenameSource() { renameSource = nil }

    private mutating func addStep(_ step: String?) {
        if directorySteps.count >= Self.maximumDirectorySteps { directoryLost = true }
        directorySteps.append(step)
        if directorySteps.count > Self.maximumDirectorySteps { directorySteps.removeFirst() }
    }

    /// The commands that rebuild the session, in order (login first).
    public var replay: [FTPCommandLine] {
        var commands: [FTPCommandLine] = []
        if let user { commands.append(FTPCommandLine(verb: "USER", argument: user)) }
        if let password { commands.append(FTPCommandLine(verb: "PASS", argument: password)) }
        if let account { commands.append(FTPCommandLine(verb: "ACCT", argument: account)) }
        for setting in settings { commands.append(FTPCommandLine(verb: setting.verb, argument: setting.argument)) }
        if let directory { commands.append(FTPCommandLine(verb: "CWD", argument: directory)) }
        for step in directorySteps {
            commands.append(step.map { FTPCommandLine(verb: "CWD", argument: $0) } ?? FTPCommandLine(verb: "CDUP"))
        }
        // Last, in this order: a server drops a pending rename at any other command, REST included.
        if let restartOffset { commands.append(FTPCommandLine(verb: "REST", argument: restartOffset)) }
        if let renameSource { commands.append(FTPCommandLine(verb: "RNFR", argument: renameSource)) }
        return commands
    }

    /// The path inside the first pair of double quotes of a 257 reply (`""` stands for one quote, RFC 959).
    static func quotedPath(_ text: String) -> String? {
        guard let start = text.firstIndex(of: "\"") else { return nil }
        var path = ""
        var index = text.index(after: start)
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            if character == "\"" {
                if next < text.endIndex, text[next] == "\"" {
                    path.append("\"")
                    index = text.index(after: next)
                    continue
                }
                return path
            }
            path.append(character)
            index = next
        }
        return nil
    }

    public static func == (lhs: ControlSessionMemory, rhs: ControlSessionMemory) -> Bool {
        lhs.replay == rhs.replay && lhs.directoryLost == rhs.directoryLost
    }
}
