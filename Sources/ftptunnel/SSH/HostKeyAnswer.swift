/// An answer to "Are you sure you want to continue connecting (yes/no/[fingerprint])?", read as OpenSSH reads it:
/// `yes`/`no` in any case, surrounding blanks ignored, an empty answer meaning no, and the key's fingerprint
/// pasted in place of `yes`. A pasted fingerprint of another key is a refusal: the key is not the one the user
/// expected. Anything else is asked again.
enum HostKeyAnswer: Equatable {
    case accept
    case refuse
    /// A fingerprint was pasted, and it is not this key's.
    case otherFingerprint(String)
    case askAgain

    static let question = "Are you sure you want to continue connecting (yes/no/[fingerprint])? "
    static let again = "Please type 'yes', 'no' or the fingerprint: "
    /// Most questions before giving up (a stuck or scripted terminal must not loop forever).
    static let maximumQuestions = 10

    init(_ input: String, fingerprint: String) {
        let answer = input.trimmingCharacters(in: .whitespacesAndNewlines)
        switch answer.lowercased() {
        case "", "no": self = .refuse
        case "yes": self = .accept
        default:
            if answer == fingerprint {
                self = .accept
            } else if Self.looksLikeFingerprint(answer) {
                self = .otherFingerprint(answer)
            } else {
                self = .askAgain
            }
        }
    }

    /// `SHA256:…` or `MD5:…`, the forms ssh-keygen -l prints.
    static func looksLikeFingerprint(_ text: String) -> Bool {
        let upper = text.uppercased()
        return (upper.hasPrefix("SHA256:") || upper.hasPrefix("MD5:")) && !text.contains(" ")
    }
}
