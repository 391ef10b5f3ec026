/// Blowfish with the "expensive key schedule" bcrypt needs (OpenBSD blowfish.c: `Blowfish_expandstate`,
/// `Blowfish_expand0state`, `blf_enc`). Used only inside `BCryptPBKDF`; nothing else encrypts with it.
struct Blowfish {
    private var p: [UInt32] = BlowfishConstants.p
    private var s: [UInt32] = BlowfishConstants.s

    /// Four bytes of `data` as a big-endian word, cycling through `data` (`Blowfish_stream2word`).
    private static func streamWord(_ data: [UInt8], _ position: inout Int) -> UInt32 {
        var word: UInt32 = 0
        for _ in 0..<4 {
            if position >= data.count { position = 0 }
            word = word << 8 | UInt32(data[position])
            position += 1
        }
        return word
    }

    private func f(_ x: UInt32) -> UInt32 {
        ((s[Int(x >> 24)] &+ s[0x100 + Int((x >> 16) & 0xff)]) ^ s[0x200 + Int((x >> 8) & 0xff)]) &+ s[0x300 + Int(x & 0xff)]
    }

    func encipher(_ left: inout UInt32, _ right: inout UInt32) {
        var l = left ^ p[0]
        var r = right
        var round = 1
        while round <= 16 {
            r ^= f(l) ^ p[round]
            l ^= f(r) ^ p[round + 1]
            round += 2
        }
        left = r ^ p[17]
        right = l
    }

    /// Mixes `key` into the P-array, then re-encrypts the whole state, XORing in `salt` (empty: no salt).
    mutating func expand(salt: [UInt8], key: [UInt8]) {
        var position = 0
        for index in 0..<18 { p[index] ^= Self.streamWord(key, &position) }
        position = 0
        var left: UInt32 = 0, right: UInt32 = 0
        func next() {
            if !salt.isEmpty {
                left ^= Self.streamWord(salt, &position)
                right ^= Self.streamWord(salt, &position)
            }
            encipher(&left, &right)
        }
        for index in stride(from: 0, to: 18, by: 2) {
            next()
            p[index] = left
            p[index + 1] = right
        }
        for index in stride(from: 0, to: 1024, by: 2) {
            next()
            s[index] = left
            s[index + 1] = right
        }
    }
}
