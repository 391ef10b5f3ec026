import Foundation
import Posix
import FTPCore

/// LIST, NLST, MLSD, MLST and STAT with a path.
extension Session {
    enum ListingStyle { case long, names, machine }

    /// Most directory entries a pattern is matched against, and most names it may yield: a client cannot make
    /// one LIST/NLST scan or send without bound.
    static let maximumEntriesScannedForPattern = 100_000
    static let maximumPatternMatches = 20_000

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
    ///
    /// LIST, NLST and STAT take a shell pattern (`*`, `?`, `[…]`) in the last component when no file has that
    /// literal name: the matching names of that one directory (NLST names carry the directory part as given, so
    /// `mget d/a*` can fetch them); dot files only with a pattern that starts with a dot, as in the shell.
    func listingLines(_ argument: String, style: ListingStyle) -> [String]? {
        let (target, showsHidden) = listingTarget(argument, takingOptions: style != .machine)
        let showHidden = showsHidden || style == .machine
        if style != .machine, let (directory, pattern) = pattern(in: target) {
            return matchingLines(directory: directory, pattern: pattern, style: style)
        }
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
            (showHidden || !entry.name.hasPrefix(".")) && Self.fitsOnALine(entry.name)
        }.map { line($0.name, $0.facts) }
    }

    /// The path a listing command names (LIST/NLST: `ls`-style options taken off; `-a`/`-A` show dot files).
    private func listingTarget(_ argument: String, takingOptions: Bool) -> (target: String, showHidden: Bool) {
        var words = argument.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        var showHidden = false
        while takingOptions, let first = words.first, first.hasPrefix("-") {
            if first.contains("a") || first.contains("A") { showHidden = true }
            words.removeFirst()
        }
        return (words.isEmpty ? "." : argument.hasPrefix("-") ? words.joined(separator: " ") : argument, showHidden)
    }

    /// The directory part (as given, with its `/`) and the pattern when `target`'s last component is a pattern
    /// and no file has that literal name; nil for a plain path.
    private func pattern(in target: String) -> (directory: String, pattern: NamePattern)? {
        let slash = target.lastIndex(of: "/")
        let directory = slash.map { String(target[...$0]) } ?? ""
        guard let pattern = NamePattern(slash.map { String(target[target.index(after: $0)...]) } ?? target),
              !directory.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" }) else { return nil }
        if let store, let literal = try? VirtualPath.resolve(target, from: cwd), (try? store.facts(literal)) != nil {
            return nil
        }
        return (directory, pattern)
    }

    /// The entries of `directory` whose names match `pattern`, or nil after an error reply.
    private func matchingLines(directory: String, pattern: NamePattern, style: ListingStyle) -> [String]? {
        guard let store, let (path, facts) = existing(directory.isEmpty ? "." : directory) else { return nil }
        guard facts.kind == .directory else {
            reply(ReplyCode.fileUnavailable, "No such directory.")
            return nil
        }
        var entries: [(name: String, facts: FileFacts)] = []
        guard perform({ () throws(FileStoreError) in entries = try store.listing(path) }) else { return nil }
        guard entries.count <= Self.maximumEntriesScannedForPattern else {
            reply(ReplyCode.fileUnavailable, "The directory has more than \(Self.maximumEntriesScannedForPattern) entries; list it without a pattern.")
            return nil
        }
        let matches = entries.filter { Self.fitsOnALine($0.name) && pattern.matches($0.name) }
        if matches.isEmpty, style == .names {
            // As vsftpd and ProFTPD: a pattern that matches nothing is an error for NLST (an empty LIST for LIST).
            reply(ReplyCode.fileUnavailable, "No files found.")
            return nil
        }
        guard matches.count <= Self.maximumPatternMatches else {
            reply(ReplyCode.fileUnavailable, "The pattern matches more than \(Self.maximumPatternMatches) names; narrow it.")
            return nil
        }
        let now = Int(Date().timeIntervalSince1970)
        return matches.map { style == .names ? directory + $0.name : $0.facts.listLine(name: $0.name, now: now) }
    }

    /// Names containing CR or LF would break the line-based listing, and no command line can name them anyway.
    private static func fitsOnALine(_ name: String) -> Bool {
        !name.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" })
    }
}
