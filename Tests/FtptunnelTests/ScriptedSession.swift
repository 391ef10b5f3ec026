import CLibSSH2
import Foundation
@testable import ftptunnel

/// A scripted stand-in for one libssh2 session (`SessionIO`) and its channels, for driving the real `SessionLane`
/// without a network. It plays libssh2 1.10's rules for a half-sent packet: after a sending call returned EAGAIN with
/// the outbound direction blocked, only that identical call may continue it (same channel; for a write the same
/// buffer address, length and bytes). Any other call meanwhile is recorded as a violation, and the half-sent packet
/// goes out with it as it does in libssh2: a write whose call reported EAGAIN reaches the server anyway, so a lane
/// that offers those bytes again duplicates them. Every call the lane makes is logged in order.
final class ScriptedSession: SessionIO {
    /// What one call does.
    enum Step: Equatable {
        /// As a healthy session would: writes take what the window and packet size allow, reads what arrived.
        case proceed
        /// EAGAIN with the outbound direction blocked: a packet is half sent and held until the identical call.
        case halfSent
        /// A write takes at most this many bytes.
        case short(Int)
        /// EAGAIN with only the inbound direction blocked (a write out of window, an open or read still waiting).
        case waitForServer
        /// A libssh2 error with this code (channel-level ones end the channel, others the session).
        case fail(Int32)
    }

    /// One call as the fake saw it.
    struct Call: Equatable, CustomStringConvertible {
        enum Kind: String { case open, read, write, grantWindow, sendEOF, drain, close, free, keepalive }
        let kind: Kind
        /// The channel's number (1 for the first opened); nil for session calls.
        let channel: Int?
        /// A write's buffer address and length (reads: 0, their buffer does not carry the half-sent packet).
        var address: UInt = 0
        var length = 0
        var description: String { "\(kind.rawValue)(\(channel.map(String.init) ?? "-"), @\(address), \(length))" }
    }

    /// Every call, in order, with the step it got.
    private(set) var log: [(call: Call, step: Step)] = []
    /// Calls made while another call's packet was half sent.
    private(set) var violations: [String] = []
    private(set) var channels: [ScriptedChannel] = []
    /// Chooses each call's step; default: `queued` steps first, then `.proceed`.
    var decide: ((Call) -> Step)?
    private var queued: [String: [Step]] = [:]
    /// The half-sent packet: the call that must come next, and a write's bytes.
    private(set) var held: (call: Call, bytes: [UInt8], goesOut: () -> Void)?
    private var directions: (inbound: Bool, outbound: Bool) = (false, false)
    /// Largest payload of one packet (libssh2 writes at most one packet per call).
    let packetSize = 32768

    /// Steps for the next calls of `kind` on `channel` (nil: session calls), in order.
    func queue(_ steps: [Step], _ kind: Call.Kind, channel: Int? = nil) {
        queued["\(kind)#\(channel ?? 0)", default: []] += steps
    }

    /// Calls of `kind` so far (optionally on one channel).
    func calls(_ kind: Call.Kind, channel: Int? = nil) -> [Call] {
        log.map(\.call).filter { $0.kind == kind && (channel == nil || $0.channel == channel) }
    }

    var isHoldingPacket: Bool { held != nil }

    // MARK: SessionIO

    let socket: Int32 = -1
    var bytesReceived: Int { 0 }
    var bytesArrived: Int { 0 }
    /// Bytes the test says wait in the socket (a drain takes them all).
    var unreadBytes = 0
    var secondsSinceServerData: TimeInterval { 0 }
    var blockDirections: (inbound: Bool, outbound: Bool) { directions }
    /// Always: the rule must hold even when the socket drained meanwhile.
    var isWritable: Bool { true }
    func setBlocking(_ blocking: Bool) {}
    func configureProbes() {}
    func disconnect(reason: String) {}

    func sendKeepalive() throws -> SSHResult<Bool> {
        switch try begin(Call(kind: .keepalive, channel: nil), bytes: []) {
        case .halfSent:
            // libssh2_keepalive_send swallows EAGAIN: it reports success with the packet half sent.
            return .done(true)
        case .waitForServer: return .wouldBlock
        default: return .done(true)
        }
    }

    func openDirectTCPIPChannel(host: String, port: Int, originatorHost: String, originatorPort: Int,
                                window: Int, packetSize: Int) throws -> SSHResult<any ChannelIO> {
        switch try begin(Call(kind: .open, channel: nil, length: port), bytes: []) {
        case .halfSent, .waitForServer: return .wouldBlock
        case .fail(let code): throw LibSSH2Failure(function: "libssh2_channel_open_ex", code: code, message: "scripted failure")
        case .proceed, .short:
            let channel = ScriptedChannel(number: channels.count + 1, session: self, port: port)
            channels.append(channel)
            return .done(channel)
        }
    }

    /// The packet a half-sent `call` holds (nil: none, or `call` is not the one that must come next).
    func heldPacket(for call: Call) -> [UInt8]? {
        guard let held, held.call == call else { return nil }
        return held.bytes
    }

    /// A call that found nothing to do now waits for the server (EAGAIN, inbound).
    func waitingForServer() { directions = (true, false) }

    // MARK: The rule

    /// Logs `call`, checks it against a half-sent packet, and returns its step (thrown for `.fail`). A completed
    /// retry releases the packet; `.halfSent` holds this one.
    /// `goesOut`: what the server receives of a half-sent packet when another call pushes it out.
    func begin(_ call: Call, bytes: [UInt8], forced: Step? = nil, goesOut: @escaping () -> Void = {}) throws -> Step {
        if let held {
            self.held = nil
            if held.call != call || held.bytes != bytes {
                violations.append("\(call) while \(held.call) was half sent")
                held.goesOut()
            }
        }
        var step = forced ?? decide?(call) ?? .proceed
        let key = "\(call.kind)#\(call.channel ?? 0)"
        if forced == nil, var steps = queued[key], !steps.isEmpty {
            step = steps.removeFirst()
            queued[key] = steps
        }
        log.append((call, step))
        switch step {
        case .halfSent:
            held = (call, bytes, goesOut)
            directions = (false, true)
        case .waitForServer:
            directions = (true, false)
        case .fail(let code):
            directions = (false, false)
            throw LibSSH2Failure(function: "libssh2 \(call.kind)", code: code, message: "scripted failure")
        case .proceed, .short:
            directions = (false, false)
        }
        return step
    }
}

/// One scripted channel: what the server received from it (bytes, EOF) and what the server sends on it.
final class ScriptedChannel: ChannelIO {
    let number: Int
    let port: Int
    private unowned let session: ScriptedSession
    /// Bytes the server received, in order.
    private(set) var received: [UInt8] = []
    private(set) var receivedEOF = false
    /// What the server sends; `served` of it was read so far.
    private(set) var outgoing: [UInt8] = []
    private var served = 0
    private var outgoingEnded = false
    /// Send window the server granted (bytes a write may still send).
    var sendWindow = Int.max
    private(set) var closed = false
    private(set) var freed = false
    var closeCompleted = false

    init(number: Int, session: ScriptedSession, port: Int) {
        self.number = number
        self.session = session
        self.port = port
    }

    /// The server sends `bytes` on this channel (and EOF after them when `end`).
    func serverSends(_ bytes: [UInt8], end: Bool = false) {
        outgoing += bytes
        if end { outgoingEnded = true }
    }

    var isEOF: Bool { outgoingEnded && served == outgoing.count }
    var hasQueuedData: Bool { served < outgoing.count }
    var receiveWindowLeft: Int { 16 << 20 }

    private func call(_ kind: ScriptedSession.Call.Kind, address: UInt = 0, length: Int = 0) -> ScriptedSession.Call {
        ScriptedSession.Call(kind: kind, channel: number, address: address, length: length)
    }

    private func checkUsable(_ what: String) throws {
        if freed { throw LibSSH2Failure(function: what, code: LIBSSH2_ERROR_BAD_USE, message: "channel already freed") }
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> SSHResult<Int> {
        try checkUsable("read")
        switch try session.begin(call(.read), bytes: []) {
        case .halfSent, .waitForServer: return .wouldBlock
        case .fail: return .wouldBlock  // thrown by begin
        case .proceed, .short:
            let n = min(buffer.count, outgoing.count - served, session.packetSize)
            guard n > 0 else {
                if outgoingEnded { return .done(0) }
                session.waitingForServer()
                return .wouldBlock
            }
            outgoing[served..<served + n].withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: n) }
            served += n
            return .done(n)
        }
    }

    func write(_ buffer: UnsafeRawBufferPointer) throws -> SSHResult<Int> {
        try checkUsable("write")
        if receivedEOF { throw LibSSH2Failure(function: "write", code: LIBSSH2_ERROR_CHANNEL_EOF_SENT, message: "EOF already sent") }
        let write = call(.write, address: UInt(bitPattern: buffer.baseAddress), length: buffer.count)
        // The packet libssh2 builds from the front of the buffer (a retry continues the one it built before; its
        // bytes must still be there).
        let packet = session.heldPacket(for: write)?.count ?? min(buffer.count, session.packetSize, sendWindow)
        let bytes = Array(buffer.prefix(packet))
        // Out of window: nothing to send, it waits for the server's window adjust.
        let step = try session.begin(write, bytes: bytes, forced: packet == 0 ? .waitForServer : nil) { [unowned self] in
            received += bytes
        }
        switch step {
        case .halfSent, .waitForServer, .fail: return .wouldBlock
        case .proceed, .short:
            var n = packet
            if case .short(let most) = step { n = min(n, most) }
            received += bytes.prefix(n)
            if sendWindow != Int.max { sendWindow = max(0, sendWindow - n) }
            return .done(n)
        }
    }

    func grantWindow(_ bytes: Int) throws -> SSHResult<Void> {
        try checkUsable("grantWindow")
        return try simple(.grantWindow) {}
    }

    func sendEOF() throws -> SSHResult<Void> {
        try checkUsable("sendEOF")
        return try simple(.sendEOF) { receivedEOF = true }
    }

    func drainSession() throws -> SSHResult<Void> {
        try checkUsable("drain")
        switch try session.begin(call(.drain), bytes: []) {
        case .halfSent, .fail: return .wouldBlock
        case .proceed, .short, .waitForServer:
            session.unreadBytes = 0
            session.waitingForServer()
            return .wouldBlock
        }
    }

    func close() throws -> SSHResult<Void> {
        try checkUsable("close")
        return try simple(.close) { closed = true }
    }

    func free() throws -> SSHResult<Void> {
        try checkUsable("free")
        return try simple(.free) { freed = true }
    }

    private func simple(_ kind: ScriptedSession.Call.Kind, _ effect: () -> Void) throws -> SSHResult<Void> {
        switch try session.begin(call(kind), bytes: []) {
        case .halfSent, .waitForServer, .fail: return .wouldBlock
        case .proceed, .short:
            effect()
            return .done(())
        }
    }
}
