/// The libssh2 channel calls a `SessionLane` makes: `SSHChannel` in the product, a scripted fake in the lane's
/// unit tests. Class-bound: a forward holds its channel by reference. Internal with one conformance in the module, so
/// an optimised whole-module build calls `SSHChannel` (and libssh2) directly, as without the protocol; keep it
/// internal. Results and failures as `LibSSH2.call` classifies them:
/// `.wouldBlock` on EAGAIN (ask the session's `blockDirections` why), `LibSSH2Failure` otherwise.
protocol ChannelIO: AnyObject {
    /// `close` completed (or failed at channel level): only `free` remains.
    var closeCompleted: Bool { get set }
    var isEOF: Bool { get }
    /// Data for this channel queued inside libssh2 (no I/O, sends nothing).
    var hasQueuedData: Bool { get }
    /// Receive window still granted to the server and not yet read (constant time, sends nothing).
    var receiveWindowLeft: Int { get }
    /// May send (a window adjust): a sending call under the pending-send rule.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> SSHResult<Int>
    func write(_ buffer: UnsafeRawBufferPointer) throws -> SSHResult<Int>
    func grantWindow(_ bytes: Int) throws -> SSHResult<Void>
    func sendEOF() throws -> SSHResult<Void>
    /// Reads what waits on the session's socket into libssh2 without reading this channel or granting window; may
    /// send a reply libssh2 owes (a call under the pending-send rule). `.done`: this channel's EOF has arrived.
    func drainSession() throws -> SSHResult<Void>
    func close() throws -> SSHResult<Void>
    func free() throws -> SSHResult<Void>
}

extension SSHChannel: ChannelIO {}
