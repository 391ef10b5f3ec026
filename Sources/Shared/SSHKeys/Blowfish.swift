/// Blowfish with the "expensive key schedule" bcrypt needs (OpenBSD blowfish.c: `Blowfish_expandstate`,
/// `Blowfish_expand0state`, `blf_enc`). The schedule is ours; the block function is libcrypto's
/// (`KeyCrypto.BlowfishState`). Used only inside `BCryptPBKDF`.
struct Blowfish {
    private var state = KeyCrypto.BlowfishState(p: BlowfishConstants.p, s: BlowfishConstants.s)

    /// Four bytes of `data` as a big-endian word, cycling through `data` (`Blowfish_stream2word`).
    private static func streamWord(_ data: UnsafeBufferPointer<UInt8>, _ position: inout Int) -> UInt32 {
        var word: UInt32 = 0
        for _ in 0..<4 {
            if position >= data.count { position = 0 }
            word = word << 8 | UInt32(data[position])
            position += 1
        }
        return word
    }

    mutating func encipher(_ left: inout UInt32, _ right: inout UInt32) { state.encipher(&left, &right) }

    /// Mixes `key` into the P-array, then re-encrypts the whole state, XORing in `salt` (empty: no salt).
    mutating func expand(salt: [UInt8], key: [UInt8]) {
        salt.withUnsafeBufferPointer { salt in
            key.withUnsafeBufferPointer { key in
                var position = 0
                state.withWords { words in
                    for index in 0..<18 { words[index] ^= Self.streamWord(key, &position) }
                }
                position = 0
                var left: UInt32 = 0, right: UInt32 = 0
                // P-array and S-boxes are one run of 1042 words: refill it two words at a time.
                for index in stride(from: 0, to: KeyCrypto.BlowfishState.wordCount, by: 2) {
                    if !salt.isEmpty {
                        left ^= Self.streamWord(salt, &position)
                        right ^= Self.streamWord(salt, &position)
                    }
                    state.encipher(&left, &right)
                    let (l, r) = (left, right)
                    state.withWords { words in
                        words[index] = l
                        words[index + 1] = r
                    }
                }
            }
        }
    }
}
