import ArgumentParser
import FTPServerKit
import Foundation
import PasvdHandOff
import Posix

extension PasvdCommand {
    /// `pasvd passwd --users FILE NAME [--root DIR]`: add a user or change its password.
    struct Passwd: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "passwd",
            abstract: "Add a user to the users file or change its password (read from the terminal, or stdin).")

        /// Shortest password accepted.
        static let minimumPasswordLength = 1

        @Option(help: "The users file (created with mode 0600 if missing).")
        var users: String

        @Argument(help: "User name.")
        var name: String

        @Option(help: "The user's root directory (absolute); empty keeps the current one or uses the server's --root.")
        var root: String?

        func validate() throws {
            guard FTPUserName.isValid(name) else {
                throw ValidationError("user name \(name) is not allowed; use letters, digits, '.', '_', '-' and '@'")
            }
            if let root, !root.hasPrefix("/") {
                throw ValidationError("--root \(root) must be an absolute path")
            }
        }

        func run() throws {
            var file = FileManager.default.fileExists(atPath: users)
                ? try UsersFile.load(users) : UsersFile(path: users, records: [])
            let password = try PasswordPrompt.read(for: name)
            file.upsert(name: name, hash: try CryptHash.make(password: password), root: root)
            try file.save()
            FileHandle.standardError.write(Data("pasvd: user \(name) saved in \(users)\n".utf8))
        }
    }
}

/// Reads a password without echo from the terminal (asking twice), or one line from a non-tty stdin.
enum PasswordPrompt {
    static func read(for name: String) throws -> String {
        if PosixTerminal.isTerminal(STDIN_FILENO) {
            let first = try readHidden(prompt: "Password for \(name): ")
            let second = try readHidden(prompt: "Retype password: ")
            guard first == second else { throw ValidationError("the passwords differ; nothing was changed") }
            return try checked(first)
        }
        guard let line = Swift.readLine(strippingNewline: true) else {
            throw ValidationError("no password on stdin; pipe one line or run from a terminal")
        }
        return try checked(line)
    }

    private static func checked(_ password: String) throws -> String {
        guard password.count >= PasvdCommand.Passwd.minimumPasswordLength, !password.utf8.contains(0) else {
            throw ValidationError("the password is empty; nothing was changed")
        }
        return password
    }

    private static func readHidden(prompt: String) throws -> String {
        FileHandle.standardError.write(Data(prompt.utf8))
        let line = PosixTerminal.withoutEcho(STDIN_FILENO, newlineTo: STDERR_FILENO) { Swift.readLine(strippingNewline: true) }
        guard let line else { throw ValidationError("no password entered; nothing was changed") }
        return line
    }
}
