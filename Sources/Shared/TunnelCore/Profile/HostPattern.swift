/// The patterns of one ssh_config `Host` line: `*` and `?` wildcards, `!` negation, compared without case.
/// The line matches when at least one plain pattern matches and no negated one does (as OpenSSH).
struct HostPatternList: Sendable {
    let patterns: [String]

    func matches(_ host: String) -> Bool { matches(host, ignoringCase: true) }

    /// User names compare with case (OpenSSH's `Match user` / `localuser`).
    func matchesExactCase(_ name: String) -> Bool { matches(name, ignoringCase: false) }

    private func matches(_ text: String, ignoringCase: Bool) -> Bool {
        let name = Array(ignoringCase ? text.lowercased() : text)
        var matched = false
        for pattern in patterns {
            let negated = pattern.hasPrefix("!")
            let raw = negated ? String(pattern.dropFirst()) : pattern
            let body = Array(ignoringCase ? raw.lowercased() : raw)
            guard HostPatternList.glob(body[...], name[...]) else { continue }
            if negated { return false }
            matched = true
        }
        return matched
    }

    /// Shell-style match of `*` (any run, also empty) and `?` (one character).
    static func glob(_ pattern: ArraySlice<Character>, _ text: ArraySlice<Character>) -> Bool {
        var p = pattern.startIndex, t = text.startIndex
        var star: (p: Int, t: Int)?
        while t < text.endIndex {
            if p < pattern.endIndex, pattern[p] == "?" || pattern[p] == text[t] {
                p += 1; t += 1
            } else if p < pattern.endIndex, pattern[p] == "*" {
                star = (p, t); p += 1
            } else if let s = star {
                p = s.p + 1; t = s.t + 1; star = (s.p, s.t + 1)
            } else {
                return false
            }
        }
        while p < pattern.endIndex, pattern[p] == "*" { p += 1 }
        return p == pattern.endIndex
    }
}
