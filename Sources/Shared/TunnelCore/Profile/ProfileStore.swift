import Foundation
import Posix

/// The profiles directory: `$XDG_CONFIG_HOME/ftptunnel/profiles/NAME.conf`, default `~/.config/ftptunnel/profiles/`.
public struct ProfileStore: Sendable {
    public static let fileExtension = "conf"
    public let directory: String

    public init(environment: [String: String]) {
        let home = SettingsResolver.homeDirectory(environment)
        if let xdg = environment["XDG_CONFIG_HOME"], xdg.hasPrefix("/") {
            directory = "\(xdg)/ftptunnel/profiles"
        } else {
            directory = "\(home)/.config/ftptunnel/profiles"
        }
    }

    /// Letters, digits, `.`, `_`, `-`, not starting with `.`.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".")
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    public func path(forName name: String) -> String { "\(directory)/\(name).\(ProfileStore.fileExtension)" }

    /// The file of profile `name`, if it exists.
    public func existingPath(forName name: String) -> String? {
        guard ProfileStore.isValidName(name) else { return nil }
        let path = path(forName: name)
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue ? path : nil
    }

    /// Names of the `*.conf` files in the directory, sorted; empty when the directory does not exist.
    public func names() -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let suffix = ".\(ProfileStore.fileExtension)"
        return files.filter { $0.hasSuffix(suffix) && !$0.hasPrefix(".") }.map { String($0.dropLast(suffix.count)) }.sorted()
    }
}

/// Reads a profile file into a settings layer. One site per file: no Host/Match/Include, no passwords,
/// every keyword known, a keyword given twice only with the same value (IdentityFile may repeat).
enum ProfileFile {
    static func load(path: String, shownAs display: String) throws -> SettingsLayer {
        let text = try readText(path, shownAs: display, missing: .profileNotFound(path: display))
        var layer = SettingsLayer(duplicates: .rejectConflicts)
        for entry in try ConfigLineParser.parse(text, file: display) {
            try layer.applyChecked(entry.keyword, entry.arguments, at: .file(display, line: entry.line))
        }
        return layer
    }

    /// Why `path` cannot be read, as open(2) says (errno is not read after FileManager's calls: they may have
    /// changed it since the failing one).
    private static func openFailure(_ path: String) -> String {
        do throws(PosixError) {
            PosixDescriptor.close(try PosixFile.open(path, flags: O_RDONLY))
            return "it could not be read"
        } catch {
            return error.reason
        }
    }

    static func readText(_ path: String, shownAs display: String, missing: ProfileError) throws -> String {
        guard FileManager.default.fileExists(atPath: path) else { throw missing }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ProfileError.unreadable(path: display, reason: openFailure(path))
        }
        guard data.count <= maximumFileBytes else {
            throw ProfileError.unreadable(path: display, reason: "larger than \(maximumFileBytes / 1024) KiB; a settings file is text of a few lines")
        }
        let lines = Array(data).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() where line.contains(0) || String(validating: line, as: UTF8.self) == nil {
            throw ProfileError.syntax(at: .file(display, line: index + 1), problem: "this line is not UTF-8 text (a binary file?)",
                                      hint: "save the file as UTF-8 text, or delete that line")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Profiles and ~/.ssh/config are read whole; anything larger is not a settings file.
    static let maximumFileBytes = 1024 * 1024
}

extension SettingsLayer {
    /// `apply` for keywords typed by the user (profile or `-o`): refuses secrets, blocks and unknown keywords.
    mutating func applyChecked(_ keyword: String, _ arguments: [String], at source: SettingSource) throws {
        if ProfileKeyword.isPasswordKeyword(keyword) { throw ProfileError.passwordKeyword(at: source, keyword: keyword) }
        if ProfileKeyword.isBlockKeyword(keyword) { throw ProfileError.blockNotAllowed(at: source, keyword: keyword) }
        guard let known = ProfileKeyword.named(keyword) else {
            throw ProfileError.unknownKeyword(at: source, keyword: keyword, suggestion: ProfileKeyword.suggestion(for: keyword))
        }
        try apply(known, arguments, at: source)
    }
}
