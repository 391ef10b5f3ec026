/// Asks for the FTP password at most once per check (both tunnels log in), and only when the server wants one:
/// on the terminal without echo, or through SSH_ASKPASS, like OpenSSH (never from the command line).
final class FTPPasswordSource {
    private let user: String
    private let prompt: SecretPrompt
    private var cached: String?

    init(user: String, prompt: SecretPrompt = SecretPrompt()) {
        self.user = user
        self.prompt = prompt
    }

    func password() throws -> String? {
        if let cached { return cached }
        cached = prompt.ask("Password for FTP user \(user): ")
        return cached
    }
}
