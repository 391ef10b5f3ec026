import Foundation
import TestSupport
@testable import TunnelCore

/// A private HOME with a profiles directory and an ~/.ssh/config, for resolver tests.
final class ProfileTestWorld {
    let directory: TempDirectory
    var extraEnvironment: [String: String] = [:]

    init() throws { directory = try TempDirectory("ftptunnel-profile") }

    var home: String { directory.path }
    var environment: [String: String] { ["HOME": home, "USER": "tester"].merging(extraEnvironment) { $1 } }
    var resolver: SettingsResolver { SettingsResolver(environment: environment) }
    static let profileDisplayDirectory = "~/.config/ftptunnel/profiles"

    @discardableResult
    func profile(_ name: String, _ lines: String...) throws -> String {
        try directory.write(".config/ftptunnel/profiles/\(name).conf", lines.joined(separator: "\n") + "\n")
    }

    func sshConfig(_ lines: String...) throws {
        try directory.write(".ssh/config", lines.joined(separator: "\n") + "\n")
    }

    func resolve(_ destination: String, _ configure: (inout SettingOverrides) -> Void = { _ in }) throws -> ResolvedSettings {
        var overrides = SettingOverrides()
        configure(&overrides)
        return try resolver.resolve(destination: destination, overrides: overrides)
    }

    /// The error a profile named `p` with these lines produces.
    func profileError(_ lines: [String]) throws -> ProfileError {
        try directory.write(".config/ftptunnel/profiles/p.conf", lines.joined(separator: "\n") + "\n")
        do {
            _ = try resolve("p")
        } catch let error as ProfileError {
            return error
        }
        throw ExpectedFailure(text: "profile \(lines) was accepted")
    }

    /// The error a set of `-o` options produces.
    func optionError(_ options: [String]) throws -> ProfileError {
        do {
            _ = try resolve("host") { $0.options = options }
        } catch let error as ProfileError {
            return error
        }
        throw ExpectedFailure(text: "-o \(options) was accepted")
    }

    struct ExpectedFailure: Error, CustomStringConvertible { let text: String; var description: String { text } }
}
