// libFuzzer target: the hand-off messages pasvd's listener and account workers read from a less trusted process
// (a login worker that parsed a client's USER and PASS, or an account worker running as a user's account). The
// first byte picks raw bytes or a message assembled from known kinds, keys and values (to get past the strict
// framing quickly); either way, whatever decodes must re-encode to itself within the size limit.
import FTPServerKit
import FuzzSupport
import PasvdHandOff

FuzzMain.run { bytes in
    var input = FuzzInput(bytes)
    let message = input.number(in: 0...3) == 0 ? input.rest() : HandOffAssembly.message(from: &input)
    HandOffChecks.decode(message)
}

enum HandOffChecks {
    static func decode(_ bytes: [UInt8]) {
        let decoded: HandOffMessage
        do { decoded = try HandOffMessage.decode(bytes) } catch { return }
        fuzzCheck(bytes.count <= HandOffMessage.maximumBytes, "accepted \(bytes.count) bytes")
        if case .session(let handOff) = decoded {
            fuzzCheck(handOff.user == "anonymous" || FTPUserName.isValid(handOff.user), "user \(handOff.user.debugDescription)")
            fuzzCheck(handOff.worker.root.hasPrefix("/") && !handOff.worker.root.contains("\n"),
                      "root \(handOff.worker.root.debugDescription)")
            fuzzCheck(handOff.sessionID >= 1, "session \(handOff.sessionID)")
            fuzzCheck(handOff.state.selectedFacts.allSatisfy(SessionResumeState.knownFacts.contains),
                      "facts \(handOff.state.selectedFacts)")
        }
        let encoded = decoded.encoded()
        fuzzCheck(encoded.count <= HandOffMessage.maximumBytes, "re-encoded to \(encoded.count) bytes")
        let again: HandOffMessage
        do { again = try HandOffMessage.decode(encoded) } catch {
            return fuzzCheck(false, "\(decoded) re-encoded does not decode: \(error)")
        }
        fuzzCheck(again == decoded, "round trip: \(decoded) → \(again)")
    }
}

/// Near-valid messages: a kind line, then key=value lines drawn from the keys and values the decoder knows, with
/// some raw bytes mixed in.
enum HandOffAssembly {
    static let kinds = ["pasvd-session", "pasvd-accepted", "pasvd-ended", "pasvd-sessio", ""]
    static let keys = ["id", "user", "anonymous", "writable", "uid", "gid", "root", "facts", "", "ID"]
    static let values = ["1", "0", "2147483647", "2147483648", "4294967295", "4294967296", "01", "-1", "+1", "",
                         "anonymous", "alice", "a/b", "/", "/srv/ftp", "/srv\r", "relative", "size;modify",
                         "size;size", "type;perm;unique", "nope", "1\u{0}", "é"]

    static func message(from input: inout FuzzInput) -> [UInt8] {
        var lines = [pick(kinds, &input)]
        for _ in 0..<input.number(in: 0...12) {
            let key = input.number(in: 0...7) == 0 ? String(decoding: input.take(input.number(in: 0...8)), as: UTF8.self) : pick(keys, &input)
            let value = input.number(in: 0...7) == 0 ? String(decoding: input.take(input.number(in: 0...16)), as: UTF8.self) : pick(values, &input)
            lines.append(input.number(in: 0...15) == 0 ? key : "\(key)=\(value)")
        }
        return Array(lines.joined(separator: "\n").utf8) + input.rest()
    }

    private static func pick(_ list: [String], _ input: inout FuzzInput) -> String { list[input.number(in: 0...(list.count - 1))] }
}
