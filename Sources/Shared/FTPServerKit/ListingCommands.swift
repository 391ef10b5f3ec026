import Foundation
import Posix
import Shared

/// LIST, NLST, MLSD, MLST and STAT with a path.
extension Session {
    enum ListingStyle { case long, names, machine }

    func list(_ argument: String, style: ListingStyle) {
        guard let lines = listingLines(argument, style: style) else { return }
        guard let data = acceptDataConnection() else { return }
        reply(ReplyCode.fileStatusOK, "Here comes the directory listing.")
        let end = data.send(PathName.bytes(lines.map { $0 + "\r\n" }.joined()))
        withExtendedLifetime(data) {}
        end == .completed ? reply(ReplyCode.closingData, "Directory send OK.") : replyIncomplete(end)
    }

    func machineListSingle(_ argument: String) {
        guard let (path, facts) = existing(argument.isEmpty ? "." : argument) else { return }
        let line = facts.machineFacts(selected: selectedFacts, writable: account?.writable == true) + " " + path.description
        send(Reply(ReplyCode.fileActionOK, first: "Listing \(path)", body: [line], last: "End"))
    }

    /// The lines of a listing, or nil after an error reply. `ls`-style options (`-a`, `-l`) are accepted
    /// for LIST/NLST; dot files are shown with `-a` (always in MLSD). Names containing CR or LF are left out:
    /// they would break the line-based listing, and no command line can name them anyway.
    func listingLines(_ argument: String, style: ListingStyle) -> [String]? {
        var words = argument.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        var showHidden = style == .machine
        if style != .machine {
            while let first = words.first, first.hasPrefix("-") {
                if first.contains("a") || first.contains("A") { showHidden = true }
                words.removeFirst()
            }
        }
        let target = words.isEmpty ? "." : argument.hasPrefix("-") ? words.joined(separator: " ") : argument
        guard let store, let (path, facts) = existing(target) else { return nil }
        let writable = account?.writable == true
        let now = Int(Date().timeIntervalSince1970)
        func line(_ name: String, _ facts: FileFacts) -> String {
            switch style {
            case .long: return facts.listLine(name: name, now: now)
            case .names: return name
            case .machine: return facts.machineFacts(selected: selectedFacts, writable: writable) + " " + name
            }
        }
        guard facts.kind == .directory else {
            if style == .machine {
                reply(ReplyCode.fileUnavailable, "MLSD needs a directory; use MLST for a file.")
                return nil
            }
            return [line(path.name ?? "/", facts)]
        }
        var entries: [(name: String, facts: FileFacts)] = []
        guard perform({ () throws(FileStoreError) in entries = try store.listing(path) }) else { return nil }
        return entries.filter { entry in
            (showHidden || !entry.name.hasPrefix(".")) && !entry.name.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" })
        }.map { line($0.name, $0.facts) }
    }
}
