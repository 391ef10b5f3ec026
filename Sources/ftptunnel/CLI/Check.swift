import ArgumentParser

extension FTPTunnelCommand {
    /// STUB
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "(not implemented yet)")
        func run() throws { throw ValidationError("not implemented yet") }
    }
}
