import FuzzSupport
import TunnelCore

/// A fuzz input read as a session script: a two-byte header, then steps.
///
/// Header: `flags`, `limits`. flags bit 0: IPv6 client; bit 1: `PassiveHost server`; bit 2: small limits
/// (line cap 8 + limits % 120, held-bytes cap 64 + 8 × limits); bit 3: listeners complete as soon as asked.
/// Steps, by `op & 7`: 0 client bytes, 1 server bytes (a length byte, then the bytes); 2 complete one pending
/// data endpoint (a selector byte: which one, bit 7 set = failure); 3 complete all pending successfully;
/// 4 client ends; 5 server ends; 6 client flood, 7 server flood (a length byte, a count byte, then the bytes,
/// sent count times). Fuzz/record-session.py writes real sessions in this form.
struct FilterScript {
    enum Side { case client, server }

    enum Step {
        case bytes(Side, [UInt8])
        case flood(Side, [UInt8], times: Int)
        case completeOne(selector: UInt8)
        case completeAll
        case end(Side)
    }

    var configuration = ControlStreamFilter.Configuration(ftpHost: "10.1.2.3")
    var completesListenersAtOnce = false
    var steps: [Step] = []

    init(_ bytes: [UInt8]) {
        var input = FuzzInput(bytes)
        let flags = input.byte()
        let limits = Int(input.byte())
        if flags & 1 != 0 { configuration.clientFamily = .ipv6 }
        if flags & 2 != 0 { configuration.passiveHost = .server }
        if flags & 4 != 0 {
            configuration.maximumLineLength = 8 + limits % 120
            configuration.maximumHeldBytes = 64 + 8 * limits
        }
        completesListenersAtOnce = flags & 8 != 0
        while !input.isExhausted {
            let op = input.byte()
            switch op & 7 {
            case 0: steps.append(.bytes(.client, input.take(Int(input.byte()))))
            case 1: steps.append(.bytes(.server, input.take(Int(input.byte()))))
            case 2: steps.append(.completeOne(selector: input.byte()))
            case 3: steps.append(.completeAll)
            case 4: steps.append(.end(.client))
            case 5: steps.append(.end(.server))
            default:
                let length = Int(input.byte())
                let times = Int(input.byte())
                steps.append(.flood(op & 7 == 6 ? .client : .server, input.take(length), times: times))
            }
        }
    }

    /// The largest single read a step hands the filter.
    static let largestRead = 255
}
