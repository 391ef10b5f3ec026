import Foundation
import TunnelCore

/// `SHA256:base64` (no padding) of a key blob, as OpenSSH prints fingerprints.
enum Fingerprint {
    static func sha256(ofKeyBlob blob: [UInt8]) -> String {
        "SHA256:" + Data(Digest.sha256(blob)).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    static func sha256(ofKeyBase64 key: String) -> String {
        guard let blob = Data(base64Encoded: key) else { return "(unreadable key)" }
        return sha256(ofKeyBlob: Array(blob))
    }
}
