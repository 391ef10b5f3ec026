import Foundation
import Testing
@testable import FTPCore
@testable import TunnelCore

/// The example profiles shipped in profiles/ parse without errors and say what their comments promise.
@Suite struct ProfileExamplesTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("profiles").path

    static var files: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".conf") }.sorted()
    }

    private func resolve(_ file: String) throws -> ResolvedSettings {
        var overrides = SettingOverrides()
        overrides.profilePath = "\(ProfileExamplesTests.directory)/\(file)"
        let environment = ["HOME": "/nonexistent-home", "USER": "tester", SettingsResolver.sshConfigEnvironmentKey: "none"]
        return try SettingsResolver(environment: environment).resolve(destination: "example", overrides: overrides)
    }

    @Test func theExamplesExist() {
        #expect(ProfileExamplesTests.files == ["demo.conf", "recipe.conf", "rewrite.conf", "sftp-bridge.conf"])
    }

    @Test(arguments: files)
    func everyExampleParses(_ file: String) throws {
        let r = try resolve(file)
        #expect(r.settings.sshHost != "example", "\(file) names its HostName")
    }

    @Test func recipeIsTheRecipesSite() throws {
        let s = try resolve("recipe.conf").settings
        #expect(s.sshHost == "www.spinach.com" && s.sshPort == 22 && s.ftpHost == "popeye" && s.ftpPort == 21)
        #expect(s.passivePorts == PortRange(lower: 2534, upper: 2536) && s.mode == .fixed)
    }

    @Test func demoTakesEveryRunTimeValueFromTheCommandLine() throws {
        var overrides = SettingOverrides()
        overrides.profilePath = "\(ProfileExamplesTests.directory)/demo.conf"
        overrides.port = 40022; overrides.identityFiles = ["/tmp/k"]; overrides.knownHostsFile = "/tmp/kh"
        overrides.ftpPort = 40021; overrides.localPort = 40121; overrides.passivePorts = "40100-40109"
        let env = ["HOME": "/nonexistent-home", "USER": "root", SettingsResolver.sshConfigEnvironmentKey: "none"]
        let s = try SettingsResolver(environment: env).resolve(destination: "demo", overrides: overrides).settings
        #expect(s.sshHost == "127.0.0.1" && s.ftpHost == "127.0.0.2" && s.mode == .rewrite)
        #expect(s.sshPort == 40022 && s.identityFiles == ["/tmp/k"] && s.knownHostsFiles == ["/tmp/kh"])
        #expect(s.ftpPort == 40021 && s.localPort == 40121 && s.passivePorts == PortRange(lower: 40100, upper: 40109))
    }

    @Test func sftpBridgeExampleServesADirectoryOverSFTP() throws {
        let s = try resolve("sftp-bridge.conf").settings
        #expect(s.mode == .sftp && s.sftpRoot == "public_html" && s.localPort == 2121 && s.bindAddress == "127.0.0.1")
    }

    @Test func rewriteExampleUsesRewriteModeAndABigWindow() throws {
        let s = try resolve("rewrite.conf").settings
        #expect(s.mode == .rewrite && s.dataWindow > 16 << 20)
    }
}
