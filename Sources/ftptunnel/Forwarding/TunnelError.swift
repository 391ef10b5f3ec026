/// Why the tunnel could not start or had to stop (SSH-level reasons are `SSHError`).
enum TunnelError: Error, CustomStringConvertible {
    case bindFailed(address: String, port: Int, reason: String)
    case badBindAddress(String)
    case internalFailure(String)
    /// `run` returned without ever becoming ready (it was stopped during set-up).
    case stoppedBeforeReady

    var description: String {
        switch self {
        case .bindFailed(let address, let port, let reason):
            let hint = port < 1024 && reason.contains("ermission")
                ? "ports below 1024 need root (or CAP_NET_BIND_SERVICE): choose another with --local-port or LocalPort"
                : "another program uses it: stop that program or choose another port (--local-port, --passive-ports, or the profile's LocalPort/PassivePorts)"
            return "cannot listen on \(address.contains(":") ? "[\(address)]" : address):\(port): \(reason); \(hint)"
        case .badBindAddress(let address):
            return "bind address \(address) is not a numeric IPv4 or IPv6 address; use e.g. 127.0.0.1"
        case .internalFailure(let what):
            return "internal failure: \(what)"
        case .stoppedBeforeReady:
            return "internal failure: the tunnel stopped before it was ready"
        }
    }
}
