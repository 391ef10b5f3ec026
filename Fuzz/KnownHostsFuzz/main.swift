// libFuzzer target: the known_hosts parser ftptunnel checks host keys with. The first byte picks raw bytes (must
// parse without a crash, lines numbered in order) or a file built around one valid line for host H with key K,
// surrounded by fuzzed bytes. The invariant for the latter: whatever else the file contains, any other key for H
// is refused (changed or revoked), unless some line of the file really records that key for H.
import Foundation
import FuzzSupport
import TunnelCore

FuzzMain.run { bytes in
    var input = FuzzInput(bytes)
    if input.number(in: 0...3) == 0 {
        KnownHostsChecks.parse(input.rest())
    } else {
        KnownHostsChecks.refusesOtherKeys(&input)
    }
}

enum KnownHostsChecks {
    static let keyK = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    static let otherKey = "AAAAC3NzaC1lZDI1NTE5AAAAIE4W0cEXoU1hOvX3nqF7kZq5N5xq0xw1mI3Y6Q3v1lSx"
    static let hosts: [(host: String, port: Int)] = [("127.0.0.1", 2222), ("example.org", 22), ("Server.Example", 22)]

    static func parse(_ bytes: [UInt8]) {
        let file = KnownHostsFile(path: "kh", bytes: bytes)
        let lines = bytes.split(separator: 10, omittingEmptySubsequences: false).count
        let numbers = (file.entries.map(\.line) + file.skipped.map(\.line)).sorted()
        fuzzCheck(Set(numbers).count == numbers.count, "a line counted twice: \(numbers)")
        fuzzCheck(numbers.allSatisfy { $0 >= 1 && $0 <= lines }, "line numbers \(numbers) in a file of \(lines) lines")
        for entry in file.entries {
            fuzzCheck(Data(base64Encoded: entry.keyBase64).map(Array.init) == entry.keyBlob, "key \(entry.keyBase64) re-reads")
        }
    }

    static func refusesOtherKeys(_ input: inout FuzzInput) {
        let (host, port) = hosts[input.number(in: 0...(hosts.count - 1))]
        let name = KnownHostsFile.hostName(host, port: port)
        let field: String
        switch input.number(in: 0...3) {
        case 0: field = name
        case 1: field = "other.example,\(name.uppercased()),*.nowhere"
        case 2: field = "!not-\(host),\(name)"
        default:
            let salt = input.take(20) + [UInt8](repeating: 7, count: 20)
            let saltBytes = Array(salt.prefix(20))
            let hash = Digest.hmacSHA1(key: saltBytes, message: Array(name.utf8))
            field = "|1|\(Data(saltBytes).base64EncodedString())|\(Data(hash).base64EncodedString())"
        }
        let indent = ["", " ", "\t ", "  "][input.number(in: 0...3)]
        let comment = ["", " comment", "\tcaf\u{E9}", " # x"][input.number(in: 0...3)]
        let end: [UInt8] = input.number(in: 0...1) == 0 ? [10] : [13, 10]
        let validLine = Array("\(indent)\(field) ssh-ed25519 \(keyK)\(comment)".utf8)

        var before = input.take(input.number(in: 0...255) * 4)
        if let last = before.last, last != 10 { before.append(10) }
        let after = input.rest()
        let bytes = before + validLine + end + after
        let number = before.filter { $0 == 10 }.count + 1

        let file = KnownHostsFile(path: "kh", bytes: bytes)
        fuzzCheck(file.entries.contains { $0.line == number && $0.keyBase64 == keyK }, "the valid line \(number) was not read")
        let presented = Array(Data(base64Encoded: otherKey)!)
        let recorded = Array(Data(base64Encoded: keyK)!)
        switch [file].status(host: host, port: port, keyType: "ssh-ed25519", keyBlob: presented) {
        case .changed, .revoked:
            break
        case .unknown:
            fuzzCheck(false, "another key for \(name) is unknown although line \(number) records \(name)")
        case .known(_, let line):
            let raw = bytes.split(separator: 10, omittingEmptySubsequences: false)
            let text = line <= raw.count ? Array(raw[line - 1]) : []
            fuzzCheck(contains(text, Array(otherKey.utf8)), "another key for \(name) accepted on line \(line), which does not hold it")
        }
        switch [file].status(host: host, port: port, keyType: "ssh-ed25519", keyBlob: recorded) {
        case .known, .revoked: break
        default: fuzzCheck(false, "the recorded key for \(name) on line \(number) is not known")
        }
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard haystack.count >= needle.count else { return false }
        return (0...(haystack.count - needle.count)).contains { Array(haystack[$0..<$0 + needle.count]) == needle }
    }
}
