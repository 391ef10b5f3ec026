/// The host key the first session of a pool verified; every further session must present the same one.
struct PoolHostKey: Sendable, Equatable {
    let type: String
    let blob: [UInt8]

    /// `ssh-ed25519 SHA256:…` for messages.
    var fingerprint: String { "\(type) \(Fingerprint.sha256(ofKeyBlob: blob))" }
}
