/// A data-connection endpoint as FTP announces it: PASV (227), EPSV (229), PORT and EPRT.
public struct PassiveEndpoint: Equatable, Sendable, CustomStringConvertible {
    /// Dotted IPv4 or textual IPv6; nil when the announcement carries only a port (229).
    public var host: String?
    public var port: Int

    public init(host: String?, port: Int) {
        self.host = host
        self.port = port
    }

    public var description: String { "\(host ?? "*"):\(port)" }

    // MARK: Formatting

    /// `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2).` — single line, no CRLF. Requires an IPv4 host.
    public func passiveReply() -> String? {
        guard let host, let octets = PassiveEndpoint.ipv4Octets(host) else { return nil }
        let numbers = octets.map(String.init) + [String(port >> 8), String(port & 0xFF)]
        return "\(ReplyCode.enteringPassive) Entering Passive Mode (\(numbers.joined(separator: ",")))."
    }

    /// `229 Entering Extended Passive Mode (|||port|)` — single line, no CRLF.
    public func extendedPassiveReply() -> String {
        "\(ReplyCode.enteringExtendedPassive) Entering Extended Passive Mode (|||\(port)|)"
    }

    /// The argument of a PORT command: `h1,h2,h3,h4,p1,p2`.
    public func portArgument() -> String? {
        guard let host, let octets = PassiveEndpoint.ipv4Octets(host) else { return nil }
        return (octets.map(String.init) + [String(port >> 8), String(port & 0xFF)]).joined(separator: ",")
    }

    // MARK: Parsing

    /// Parses the six numbers `h1,h2,h3,h4,p1,p2` (PORT's argument, or what a 227 reply carries).
    public static func parseSixNumbers(_ text: Substring) -> PassiveEndpoint? {
        let fields = text.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        guard fields.count == 6 else { return nil }
        var numbers: [Int] = []
        for field in fields {
            guard !field.isEmpty, field.count <= 3, field.allSatisfy(\.isASCIIDigit),
                  let value = Int(field), (0...255).contains(value) else { return nil }
            numbers.append(value)
        }
        let port = numbers[4] << 8 | numbers[5]
        guard port > 0 else { return nil }
        return PassiveEndpoint(host: numbers[0..<4].map(String.init).joined(separator: "."), port: port)
    }

    /// Parses EPRT's argument `|af|addr|port|` (any delimiter character in 33...126, RFC 2428).
    public static func parseExtendedPort(_ text: Substring) -> (family: Int, endpoint: PassiveEndpoint)? {
        guard let delimiter = text.first, delimiter.isASCII, (33...126).contains(delimiter.asciiValue!) else { return nil }
        let fields = text.split(separator: delimiter, omittingEmptySubsequences: false)
        guard fields.count == 5, fields[0].isEmpty, fields[4].isEmpty,
              let family = Int(fields[1]), family == 1 || family == 2,
              let port = Int(fields[3]), (1...65535).contains(port) else { return nil }
        let host = String(fields[2])
        if family == 1 { guard ipv4Octets(host) != nil else { return nil } } else {
            guard host.contains(":"), host.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
        }
        return (family, PassiveEndpoint(host: host, port: port))
    }

    /// Parses the port out of a 229 text `(|||port|)` (delimiter may be any of 33...126).
    public static func parseExtendedPassive(_ text: Substring) -> PassiveEndpoint? {
        guard let open = text.firstIndex(of: "("), let close = text[open...].firstIndex(of: ")") else { return nil }
        let inner = text[text.index(after: open)..<close]
        guard let delimiter = inner.first, delimiter.isASCII, (33...126).contains(delimiter.asciiValue!) else { return nil }
        let fields = inner.split(separator: delimiter, omittingEmptySubsequences: false)
        guard fields.count == 5, fields[0].isEmpty, fields[1].isEmpty, fields[2].isEmpty, fields[4].isEmpty,
              fields[3].allSatisfy(\.isASCIIDigit), let port = Int(fields[3]), (1...65535).contains(port)
        else { return nil }
        return PassiveEndpoint(host: nil, port: port)
    }

    public static func ipv4Octets(_ host: String) -> [Int]? {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let octets = parts.compactMap { part -> Int? in
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCIIDigit) else { return nil }
            return Int(part).flatMap { (0...255).contains($0) ? $0 : nil }
        }
        return octets.count == 4 ? octets : nil
    }
}
