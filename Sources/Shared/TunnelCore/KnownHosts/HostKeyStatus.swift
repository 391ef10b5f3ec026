import Foundation

/// What the known_hosts files say about the key a server presented.
public enum HostKeyStatus: Equatable, Sendable {
    /// One key on record for the host (a plain, unmarked entry).
    public struct Recorded: Equatable, Sendable {
        public let file: String
        public let line: Int
        public let keyType: String
        public let keyBase64: String

        public init(file: String, line: Int, keyType: String, keyBase64: String) {
            self.file = file
            self.line = line
            self.keyType = keyType
            self.keyBase64 = keyBase64
        }
    }

    case known(file: String, line: Int)
    /// Keys are on record for the host and the presented one is none of them, whatever its type (OpenSSH's
    /// HOST_CHANGED): possible man-in-the-middle. Every recorded key, in file order.
    case changed(recorded: [Recorded])
    case revoked(file: String, line: Int)
    case unknown
}

extension Array where Element == KnownHostsFile {
    /// Checks host:port presenting `keyType keyBlob` against every file, OpenSSH style: revoked before known,
    /// known before changed; only a host with no key on record at all is unknown. Keys compare as decoded bytes.
    public func status(host: String, port: Int, keyType: String, keyBlob: [UInt8]) -> HostKeyStatus {
        for file in self {
            if let revoked = file.entries.first(where: { $0.marker == .revoked && $0.keyBlob == keyBlob }) {
                return .revoked(file: file.path, line: revoked.line)
            }
        }
        var recorded: [HostKeyStatus.Recorded] = []
        for file in self {
            for entry in file.entries(forHost: host, port: port) {
                if entry.keyType == keyType && entry.keyBlob == keyBlob { return .known(file: file.path, line: entry.line) }
                recorded.append(HostKeyStatus.Recorded(file: file.path, line: entry.line, keyType: entry.keyType,
                                                       keyBase64: entry.keyBase64))
            }
        }
        return recorded.isEmpty ? .unknown : .changed(recorded: recorded)
    }

    /// The same, for a key given in base64 (an undecodable one matches nothing on record).
    public func status(host: String, port: Int, keyType: String, keyBase64: String) -> HostKeyStatus {
        status(host: host, port: port, keyType: keyType, keyBlob: KnownHostsLine.decodeBase64([UInt8](keyBase64.utf8)) ?? [])
    }

    /// Every unmarked key on record for host:port, in file order.
    public func recordedKeys(host: String, port: Int) -> [HostKeyStatus.Recorded] {
        flatMap { file in
            file.entries(forHost: host, port: port).map {
                HostKeyStatus.Recorded(file: file.path, line: $0.line, keyType: $0.keyType, keyBase64: $0.keyBase64)
            }
        }
    }

    /// Key types on record for host:port, in file order, without duplicates.
    public func keyTypes(host: String, port: Int) -> [String] {
        var seen: [String] = []
        for key in recordedKeys(host: host, port: port) where !seen.contains(key.keyType) {
            seen.append(key.keyType)
        }
        return seen
    }
}
