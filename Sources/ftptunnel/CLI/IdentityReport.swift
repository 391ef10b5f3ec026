import Foundation
import ProgramSupport
import TunnelCore

/// The identities `connect` would offer, in order, each with where it came from (comment lines of `show`; they
/// keep its output a valid profile). Reads the key files' public halves and asks the agent for its list; never
/// asks for a passphrase.
struct IdentityReport {
    let plan: IdentityPlan

    init(settings: TunnelSettings, environment: [String: String] = ProcessInfo.processInfo.environment) {
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? PathExpansion.home
        plan = IdentityPlan(settings: settings, environment: environment, home: home)
    }

    var text: String {
        var lines = ["# identities offered, in this order (each costs one of the server's MaxAuthTries):"]
        if plan.identities.isEmpty { lines.append("#   none: no identity file or agent key is usable") }
        for (index, identity) in plan.identities.enumerated() {
            var type = identity.type
            if case .file(let file) = identity.signer, file.isEncrypted { type += ", passphrase" }
            if identity.isRSA { type += ", signed as \(OfferedIdentity.RSAAlgorithm.sha512.rawValue) (\(OfferedIdentity.RSAAlgorithm.sha256.rawValue) if refused)" }
            lines.append("#   \(index + 1). \(type): \(identity.origin)")
        }
        lines += plan.notes.map { "# identity note: \($0)" }
        // Paths come from profiles and the command line: control bytes are shown as escapes.
        return lines.map { VisibleText.of($0, limit: 4096) }.joined(separator: "\n") + "\n"
    }
}
