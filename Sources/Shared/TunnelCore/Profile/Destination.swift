/// DEST as typed: `[user@]host[:port]`, `[user@][v6addr]:port`, a bare IPv6 address, or a name
/// (a profile or an ~/.ssh/config Host alias).
struct Destination: Sendable, Equatable {
    let user: String?
    let host: String
    let port: Int?
    /// A bare name without brackets: may name a profile.
    var mayNameProfile: Bool { !bracketed && ProfileStore.isValidName(host) }
    private let bracketed: Bool

    init(parsing text: String) throws {
        guard !text.isEmpty else { throw ProfileError.invalidDestination(text, problem: "is empty") }
        var rest = Substring(text)
        var user: String?
        if let at = rest.lastIndex(of: "@") {
            user = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
            guard user?.isEmpty == false, !(user ?? "").contains(where: \.isWhitespace) else {
                throw ProfileError.invalidDestination(text, problem: "has an empty or malformed user name before @")
            }
        }
        var portText: Substring?
        bracketed = rest.hasPrefix("[")
        if bracketed {
            guard let close = rest.firstIndex(of: "]") else {
                throw ProfileError.invalidDestination(text, problem: "opens [ without closing ]")
            }
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else {
                    throw ProfileError.invalidDestination(text, problem: "has text after ] that is not :PORT")
                }
                portText = after.dropFirst()
            }
            rest = rest[rest.index(after: rest.startIndex)..<close]
        } else if rest.filter({ $0 == ":" }).count == 1, let colon = rest.firstIndex(of: ":") {
            portText = rest[rest.index(after: colon)...]
            rest = rest[..<colon]
        }
        var port: Int?
        if let portText {
            guard let value = try? ValueParser.port(String(portText)) else {
                throw ProfileError.invalidDestination(text, problem: "has a port that is not a number from 1 to 65535")
            }
            port = value
        }
        guard let host = try? ValueParser.host(String(rest)) else {
            throw ProfileError.invalidDestination(text, problem: "has no valid host name")
        }
        self.user = user
        self.host = host
        self.port = port
    }
}
