import Foundation
import Posix
import FTPCore

/// FEAT, OPTS, HELP, STAT, TYPE, MODE, STRU, REST.
extension Session {
    func feat() {
        send(Reply(ReplyCode.systemStatus, first: "Features:", body: offeredFeatures, last: "End"))
    }

    func opts(_ argument: String) {
        let parts = argument.split(separator: " ", maxSplits: 1).map(String.init)
        switch parts.first?.uppercased() {
        case "UTF8":
            if parts.count == 1 || parts[1].uppercased() == "ON" {
                reply(ReplyCode.commandOK, "Always in UTF8 mode.")
            } else {
                reply(ReplyCode.parameterNotImplemented, "UTF8 cannot be turned off.")
            }
        case "MLST":
            let requested = parts.count > 1 ? parts[1].lowercased().split(separator: ";").map(String.init) : []
            selectedFacts = Set(requested).intersection(Session.machineFacts)
            let list = Session.machineFacts.filter(selectedFacts.contains).map { $0 + ";" }.joined()
            reply(ReplyCode.commandOK, "MLST OPTS \(list)")
        default:
            reply(ReplyCode.parameterSyntaxError, "Option not understood.")
        }
    }

    func help() {
        let verbs = CommandTable.helpVerbs(offering: settings.extraCommands)
        var lines: [String] = []
        stride(from: 0, to: verbs.count, by: 8).forEach { lines.append(verbs[$0..<min($0 + 8, verbs.count)].joined(separator: " ")) }
        send(Reply(ReplyCode.help, first: "The following commands are recognized:", body: lines, last: "Help OK."))
    }

    func stat(_ argument: String) {
        guard argument.isEmpty else {
            // STAT path: the listing over the control connection.
            guard account != nil else { return reply(ReplyCode.notLoggedIn, "Please log in with USER and PASS.") }
            guard let lines = listingLines(argument, style: .long) else { return }
            send(Reply(ReplyCode.fileStatus, first: "Status of \(argument):", body: lines, last: "End of status."))
            return
        }
        var body = ["Connected from \(peerHost ?? "stdin")"]
        if let account { body.append("Logged in as \(account.name)\(account.writable ? "" : " (read-only)")") }
        body += ["TYPE: BINARY, MODE: STREAM, STRU: FILE", "Passive ports \(settings.passivePorts)",
                 "Idle timeout \(Int(settings.idleTimeout)) s, data timeout \(Int(settings.dataTimeout)) s"]
        send(Reply(ReplyCode.systemStatus, first: "\(settings.serverName) status:", body: body, last: "End of status."))
    }

    /// TYPE A and TYPE I are both accepted; data is always sent as stored (binary), as vsftpd does by default.
    func type(_ argument: String) {
        switch argument.uppercased() {
        case "I", "L 8": reply(ReplyCode.commandOK, "Switching to Binary mode.")
        case "A", "A N": reply(ReplyCode.commandOK, "Switching to ASCII mode (files are transferred unchanged).")
        default: reply(ReplyCode.parameterNotImplemented, "Only TYPE A and TYPE I are supported.")
        }
    }

    func mode(_ argument: String) {
        argument.uppercased() == "S"
            ? reply(ReplyCode.commandOK, "Mode set to S.")
            : reply(ReplyCode.parameterNotImplemented, "Only MODE S (stream) is supported.")
    }

    func structure(_ argument: String) {
        argument.uppercased() == "F"
            ? reply(ReplyCode.commandOK, "Structure set to F.")
            : reply(ReplyCode.parameterNotImplemented, "Only STRU F (file) is supported.")
    }

    func restart(_ argument: String) {
        guard !argument.isEmpty, argument.allSatisfy(\.isASCIIDigitCharacter), let offset = Int64(argument) else {
            reply(ReplyCode.parameterSyntaxError, "REST needs a non-negative byte offset.")
            return
        }
        restartOffset = offset
        reply(ReplyCode.pendingFurtherInformation, "Restarting at \(offset). Send STOR or RETR.")
    }
}

extension Character {
    var isASCIIDigitCharacter: Bool { isASCII && isNumber }
}
