/// Follows a session's file transfers as they run (ftptunnel's `status` in Mode sftp). Called on the session's
/// thread; an implementation that others read must lock.
public protocol TransferObserver: AnyObject {
    /// A RETR/STOR/APPE/STOU starts (its 150 reply is sent). `expectedBytes`: what a download will send (nil for
    /// uploads); `offset`: the REST offset. The returned watch is told every count of bytes moved, then `ended()`.
    func transferStarted(session: Int, verb: String, path: String, expectedBytes: Int64?, offset: Int64) -> TransferWatch
}

/// One transfer being followed.
public protocol TransferWatch: AnyObject {
    func moved(_ bytes: Int)
    func ended()
}
