/// Why rewrite mode could not set up one data connection (the control connection and the tunnel stay up; the FTP
/// client gets a 425 reply carrying this text).
enum DataConnectionError: Error, CustomStringConvertible {
    case clientUnreachable(address: String, reason: String)
    case portsExhausted(range: String, last: String)

    var description: String {
        switch self {
        case .clientUnreachable(let address, let reason):
            return "cannot connect to the client's data port \(address): \(reason)"
        case .portsExhausted(let range, let last):
            return "no free port in PassivePorts \(range) on this machine (\(last)); another tunnel or program holds them: choose a free range or leave PassivePorts unset"
        }
    }
}
