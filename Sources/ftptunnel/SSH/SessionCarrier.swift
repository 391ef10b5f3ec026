/// What carries an SSH session's bytes when it is not a plain TCP connection: a hop's `direct-tcpip` channel
/// (a `HopLane` of a bastion's `HopPump`) or a ProxyCommand child (`ProxyCommandCarrier`). The session owns it and calls `finish` after it
/// closed its own end of the socket pair, so the carrier can wind down (the bastion session, the child).
protocol SessionCarrier: AnyObject, Sendable {
    func finish()
}
