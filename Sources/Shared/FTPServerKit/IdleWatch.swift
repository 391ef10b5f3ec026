/// Work a store does on its session's thread while the session waits for the next command (the SFTP bridge:
/// noticing that its SSH session died, ServerAlive probes, replacing the session before the client asks).
/// `Session.run` polls `descriptor` beside the control connection and calls `service()` when it is readable or
/// closed, or when `dueTime` has come; the next command is read after `service()` returns.
public protocol IdleWatch: AnyObject {
    /// A descriptor whose readability or hang-up needs `service()`; nil for none.
    var descriptor: Int32? { get }
    /// When `service()` is due next (monotonic seconds); `.infinity` for never.
    var dueTime: Double { get }
    func service()
}
