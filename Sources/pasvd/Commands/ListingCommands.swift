import Foundation
import Shared

/// LIST, NLST, MLSD, MLST and STAT with a path.
extension Session {
    enum ListingStyle { case long, names, machine }

    /// Most entries a single listing returns (protects memory against huge directories).
    static let maximumListingEntries = 100_000

    func list(_ argument: String, style: ListingStyle) {
        guard let lines = listingLines(argument, style: style) else { return }
        guard let data = acceptDataConnection() else { return }
        reply(ReplyCode.fileStatusOK, "Here comes the directory listing.")
        let end = data.send(Array(lines.map { $0 + "\r\n" }.joined().utf8))
        withExtendedLifetime(data) {}
        end == .completed ? reply(ReplyCode.closingData, "Directory send OK.") : replyIncomplete(end)
    }

    func machineListSingle(_ argument: String) {
        guard let (path, host) = existing(argument.isEmpty ? "." : argument) else { return }
        guard let facts = FileFacts.of(host) else { return reply(ReplyCode.fileUnavailable, "No such file or directory.") }
        let line = facts.machineFacts(selected: selectedFacts, writable: account?.writable == true) + " " + path.description
        send(Reply(ReplyCode.fileActionOK, first: "Listing \(path)", body: [line], last: "End"))
    }

    /// The lines of a listing, or nil after an error reply. `ls`-style options (`-a`, `-l`) are accepted
    /// for LIST/NLST; dot files are shown with `-a` (always in MLSD).
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
        guard let root, let (_, host) = existing(target) else { return nil }
        guard let facts = FileFacts.of(host) else {
            reply(ReplyCode.fileUnavailable, "No such file or directory.")
            return nil
        }
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
            return [line((target as NSString).lastPathComponent, facts)]
        }
        guard let directory = opendir(host.path) else {
            refuse(errno: errno, "LIST")
            return nil
        }
        defer { closedir(directory) }
        var entries: [(String, FileFacts)] = []
        while let item = readdir(directory), entries.count < Session.maximumListingEntries {
            let name = withUnsafeBytes(of: item.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name.hasPrefix(".") && !showHidden { continue }
            guard let listed = root.listed(name, in: host), let entryFacts = FileFacts.of(listed) else { continue }
            entries.append((name, entryFacts))
        }
        return entries.sorted { $0.0 < $1.0 }.map { line($0.0, $0.1) }
    }
}
