import FTPServerKit
import Foundation
import TunnelCore

/// Puts the bridge's transfers into `TunnelActivity`, so that `ftptunnel status` shows them with bytes, percent,
/// rate and ETA as in the other modes (the FTP session's number stands for the connection).
final class BridgeTransferObserver: TransferObserver {
    let activity: TunnelActivity

    init(activity: TunnelActivity) { self.activity = activity }

    func transferStarted(session: Int, verb: String, path: String, expectedBytes: Int64?, offset: Int64) -> TransferWatch {
        let live = LiveTransfer(transfer: TransferTracker.Transfer(verb: verb, path: path, expectedBytes: expectedBytes.map { Int($0) },
                                                                   offset: Int(offset)),
                                connection: session, started: Date(), meter: TransferMeter())
        activity.add(live)
        return Watch(live: live, activity: activity)
    }

    /// One transfer: its meter counts, and it leaves the activity when it ends.
    final class Watch: TransferWatch {
        let live: LiveTransfer
        let activity: TunnelActivity

        init(live: LiveTransfer, activity: TunnelActivity) {
            self.live = live
            self.activity = activity
        }

        func moved(_ bytes: Int) { live.meter?.add(bytes) }

        func ended() {
            live.meter?.end()
            activity.remove(live)
        }
    }
}
