import Foundation

/// The benchmarks' user-space delay proxy (Benchmarks/tools/delay_proxy.py) in front of a loopback TCP port:
/// every byte waits `milliseconds` in each direction, so a test sees a long round trip (kernel netem is not
/// available here). Bandwidth is not limited.
public final class DelayProxy: @unchecked Sendable {
    public let port: Int
    private let process: ManagedProcess

    public init(target: String, port targetPort: Int, milliseconds: Int) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Benchmarks/tools/delay_proxy.py").path
        process = try ManagedProcess(try which("python3"), [script, "--listen", LoopbackNet.clientSide,
                                                            "--target", "\(target):\(targetPort)", "--delay-ms", "\(milliseconds)"])
        try process.waitForOutput(containing: "listening ", seconds: 30)
        guard let line = process.output.split(separator: "\n").first(where: { $0.hasPrefix("listening ") }),
              let bound = Int(line.dropFirst("listening ".count).trimmingCharacters(in: .whitespaces)) else {
            throw ProxyError(description: "the delay proxy did not say its port: \(process.output)")
        }
        port = bound
    }

    deinit { process.stop() }

    struct ProxyError: Error, CustomStringConvertible { let description: String }
}
