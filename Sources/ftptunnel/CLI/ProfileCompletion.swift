import Foundation
import TunnelCore

/// Shell completion of DEST: the names of the profiles in the user's profiles directory. The generated
/// bash/zsh/fish scripts call the installed binary for these when TAB is pressed.
enum ProfileCompletion {
    @Sendable static func candidates(_ words: [String], _ index: Int, _ prefix: String) -> [String] {
        ProfileStore(environment: ProcessInfo.processInfo.environment).names().filter { $0.hasPrefix(prefix) }
    }
}
