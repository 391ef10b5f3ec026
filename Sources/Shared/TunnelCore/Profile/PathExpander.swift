import Foundation
import Posix

/// Expands a leading `~` or `~user` and the `%` tokens of ssh_config paths (`%h` host, `%p` port, `%r` remote user,
/// `%u` local user, `%d` home directory, `%n` the name as given, `%i` local uid, `%l`/`%L` local host name
/// with/without domain, `%%` a percent sign).
struct PathExpander: Sendable {
    let home: String
    let tokens: [Character: String]

    func expand(_ path: String) throws -> String { try expandTokens(try expandTilde(path)) }

    /// The `%` tokens only (a command line: its `~` is the shell's business).
    func expandTokens(_ text: String) throws -> String {
        var result = ""
        var iterator = text.makeIterator()
        while let c = iterator.next() {
            guard c == "%" else { result.append(c); continue }
            guard let token = iterator.next() else {
                throw ValueProblem(problem: "ends with a lone %", hint: "write %% for a percent sign")
            }
            if token == "%" { result.append("%"); continue }
            guard let value = tokens[token] else {
                let known = tokens.keys.sorted().map { "%\($0)" }.joined(separator: ", ")
                throw ValueProblem(problem: "contains the unknown token %\(token)", hint: "use \(known) or %%")
            }
            result += value
        }
        return result
    }

    func expandTilde(_ path: String) throws -> String {
        guard path.hasPrefix("~") else { return path }
        let name = path.dropFirst().prefix { $0 != "/" }
        let rest = path.dropFirst(1 + name.count)
        if name.isEmpty { return home + rest }
        guard let dir = PosixIdentity.homeDirectory(ofUser: String(name)) else {
            throw ValueProblem(problem: "names an unknown user ~\(name)", hint: "write the full path instead")
        }
        return dir + rest
    }
}
