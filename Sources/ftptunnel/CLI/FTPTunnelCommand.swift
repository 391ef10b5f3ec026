import ArgumentParser

@main
struct FTPTunnelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ftptunnel",
        abstract: "Carry FTP (control and data connections) through one SSH session.",
        subcommands: []
    )
    func run() throws {
        print(Self.helpMessage())
    }
}
