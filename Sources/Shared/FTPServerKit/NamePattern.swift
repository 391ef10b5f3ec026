/// A shell-style pattern for the last component of a LIST/NLST/STAT path (`*`, `?`, `[…]`), matched against the
/// names of one directory, as vsftpd and ProFTPD do for `mget b*`. A pattern never spans directories (it has no
/// `/`), and matching costs at most (name length × pattern length) steps: `*` keeps one backtrack point, so no
/// pattern can make the server work exponentially. Pure: no I/O.
public struct NamePattern: Equatable, Sendable {
    /// Longest pattern accepted (a name's own limit, NAME_MAX).
    public static let maximumLength = VirtualPath.maximumNameLength

    enum Element: Equatable, Sendable {
        case literal(Unicode.Scalar)
        case anyOne
        case anyRun
        case set(ranges: [ClosedRange<Unicode.Scalar>], negated: Bool)
    }

    let elements: [Element]
    /// True when the pattern starts with a literal dot: only then does it match dot files (as in the shell).
    public let matchesDotFiles: Bool

    /// Nil when `text` has no wildcard (a plain name), is longer than `maximumLength` or contains `/`.
    public init?(_ text: String) {
        guard text.utf8.count <= Self.maximumLength, !text.contains("/"),
              text.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" }) else { return nil }
        let scalars = Array(text.unicodeScalars)
        var elements: [Element] = []
        var index = 0
        while index < scalars.count {
            switch scalars[index] {
            case "*":
                if elements.last != .anyRun { elements.append(.anyRun) }
                index += 1
            case "?":
                elements.append(.anyOne)
                index += 1
            case "[":
                if let (set, next) = Self.bracket(scalars, from: index + 1) {
                    elements.append(set)
                    index = next
                } else {
                    elements.append(.literal("["))
                    index += 1
                }
            default:
                elements.append(.literal(scalars[index]))
                index += 1
            }
        }
        guard elements.contains(where: { if case .literal = $0 { return false } else { return true } }) else { return nil }
        self.elements = elements
        matchesDotFiles = scalars.first == "."
    }

    public func matches(_ name: String) -> Bool {
        let scalars = Array(name.unicodeScalars)
        if !matchesDotFiles, scalars.first == "." { return false }
        var (nameIndex, patternIndex) = (0, 0)
        var backtrack: (pattern: Int, name: Int)?
        while nameIndex < scalars.count {
            if patternIndex < elements.count {
                switch elements[patternIndex] {
                case .anyRun:
                    backtrack = (patternIndex + 1, nameIndex)
                    patternIndex += 1
                    continue
                case let element where Self.matchesOne(element, scalars[nameIndex]):
                    patternIndex += 1
                    nameIndex += 1
                    continue
                default:
                    break
                }
            }
            guard let point = backtrack else { return false }
            // The last `*` takes one more character; everything after it is tried again from there.
            backtrack = (point.pattern, point.name + 1)
            (patternIndex, nameIndex) = (point.pattern, point.name + 1)
        }
        return elements[patternIndex...].allSatisfy { $0 == .anyRun }
    }

    private static func matchesOne(_ element: Element, _ scalar: Unicode.Scalar) -> Bool {
        switch element {
        case .literal(let literal): return literal == scalar
        case .anyOne: return true
        case .anyRun: return false
        case .set(let ranges, let negated): return ranges.contains { $0.contains(scalar) } != negated
        }
    }

    /// `[!a-z]`, `[^x]`, `[]a]`: the set starting after `[`, and the index after its `]`; nil when unterminated.
    private static func bracket(_ scalars: [Unicode.Scalar], from start: Int) -> (Element, Int)? {
        var index = start
        var negated = false
        if index < scalars.count, scalars[index] == "!" || scalars[index] == "^" {
            negated = true
            index += 1
        }
        var ranges: [ClosedRange<Unicode.Scalar>] = []
        var first = true
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar == "]" && !first { return (.set(ranges: ranges, negated: negated), index + 1) }
            first = false
            if index + 2 < scalars.count, scalars[index + 1] == "-", scalars[index + 2] != "]" {
                let upper = scalars[index + 2]
                if scalar <= upper { ranges.append(scalar...upper) }
                index += 3
            } else {
                ranges.append(scalar...scalar)
                index += 1
            }
        }
        return nil
    }
}
