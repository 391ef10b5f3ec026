import ArgumentParser

@main
struct PasvdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pasvd",
        abstract: "A small, hardened FTP server for use behind sshd."
    )
    func run() throws {
        print(Self.helpMessage())
    }
}
