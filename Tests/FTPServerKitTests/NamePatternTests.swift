import Testing
@testable import FTPServerKit

/// Shell patterns for LIST/NLST: `*`, `?`, `[…]`, dot files, and the cost bound.
@Suite struct NamePatternTests {
    static func matches(_ pattern: String, _ name: String) -> Bool { NamePattern(pattern)!.matches(name) }

    @Test func plainNamesAreNotPatterns() {
        #expect(NamePattern("b1.txt") == nil)
        #expect(NamePattern("a[b") == nil)   // an unterminated bracket is a literal: no wildcard left
        #expect(NamePattern("d/b*") == nil)  // a pattern never spans directories
        #expect(NamePattern(String(repeating: "*", count: 256)) == nil)
    }

    @Test func starAndQuestionMark() {
        #expect(Self.matches("b*", "b1.txt"))
        #expect(Self.matches("b*", "b"))
        #expect(!Self.matches("b*", "ab"))
        #expect(Self.matches("*.txt", "a.b.txt"))
        #expect(!Self.matches("*.txt", "a.txt.gz"))
        #expect(Self.matches("b?.txt", "b1.txt"))
        #expect(!Self.matches("b?.txt", "b12.txt"))
        #expect(Self.matches("*a*b*c*", "xxaxxbxxc"))
        #expect(!Self.matches("*a*b*c*", "xxaxxcxxb"))
        #expect(Self.matches("é?", "éü"))
    }

    @Test func bracketSets() {
        #expect(Self.matches("[ab]1.txt", "a1.txt"))
        #expect(Self.matches("[ab]1.txt", "b1.txt"))
        #expect(!Self.matches("[ab]1.txt", "c1.txt"))
        #expect(Self.matches("[a-c]x", "bx"))
        #expect(!Self.matches("[!a-c]x", "bx"))
        #expect(Self.matches("[^a-c]x", "dx"))
        #expect(Self.matches("[]]x", "]x"))
        #expect(Self.matches("a[b*", "a[bcd"))  // `[` without `]` is literal; `*` still a wildcard
    }

    @Test func dotFilesOnlyForPatternsStartingWithADot() {
        #expect(!Self.matches("*", ".hidden"))
        #expect(!Self.matches("?hidden", ".hidden"))
        #expect(Self.matches(".h*", ".hidden"))
    }

    /// The backtracking worst case finishes in (name × pattern) steps: a quadratic bound, not exponential.
    @Test func adversarialPatternsStayCheap() {
        let pattern = NamePattern(String(repeating: "*a", count: 100) + "b")!
        #expect(!pattern.matches(String(repeating: "a", count: 255)))
    }
}
