import FTPCore

/// What `ftptunnel check` found out about an FTP server through the tunnel, and the advice it prints:
/// what works, what the server advertises, which mode fits, and how to set up common clients. Pure: the check
/// command gathers the replies and LIST outcomes, this type only interprets them.
public struct ServerDiagnosis: Sendable, Equatable {
    /// Outcome of a LIST over one data-connection method.
    public enum ListResult: Equatable, Sendable {
        case notTried
        case worked
        case failed(String)
    }

    /// One passive-mode attempt: the server's reply to PASV or EPSV and what a LIST over it did.
    public struct DataProbe: Equatable, Sendable {
        public var reply: FTPReply?
        public var list: ListResult

        public init(reply: FTPReply?, list: ListResult) {
            self.reply = reply
            self.list = list
        }

        public static let notTried = DataProbe(reply: nil, list: .notTried)

        var worked: Bool { list == .worked }
    }

    /// How the server's 227 address looks from the client's side of the tunnel.
    public enum AdvertisedAddress: Equatable, Sendable {
        /// Exactly the address local clients use (fixed mode can work).
        case localListenAddress
        /// Another loopback address: the server's own loopback, not the client's.
        case otherLoopback(String)
        case unspecified
        case privateNetwork(String)
        case publicAddress(String)
    }

    public var ftpHost: String
    /// The address and port local clients connect to (`127.0.0.1`, LocalPort).
    public var localHost: String
    public var localPort: Int
    public var banner: FTPReply?
    /// The FEAT reply; nil when the server refused FEAT or was not asked.
    public var feat: FTPReply?
    /// EPSV and PASV each with a LIST through a rewrite-mode tunnel.
    public var epsv: DataProbe
    public var pasv: DataProbe
    /// LIST over PASV through a fixed-mode tunnel (profiles in fixed mode with PassivePorts); `.notTried` otherwise.
    public var fixedList: ListResult = .notTried
    /// The answer to `REST 0` (nil: not asked): 350 means transfers can be resumed.
    public var rest: FTPReply?
    /// The mode the settings choose (the client advice follows it: fixed mode cannot carry active mode).
    public var configuredMode: TunnelSettings.Mode = .rewrite
    /// The settings' PassivePorts, named when the tunnel's own data listeners could not be bound.
    public var localPassivePorts: String?

    public init(ftpHost: String, localHost: String = "127.0.0.1", localPort: Int, banner: FTPReply?, feat: FTPReply?,
                epsv: DataProbe, pasv: DataProbe) {
        self.ftpHost = ftpHost
        self.localHost = localHost
        self.localPort = localPort
        self.banner = banner
        self.feat = feat
        self.epsv = epsv
        self.pasv = pasv
    }

    // MARK: Findings

    /// Server software recognised from the banner.
    public var serverSoftware: String? {
        guard let text = banner?.text.lowercased() else { return nil }
        let known: [(String, String)] = [
            ("vsftpd", "vsftpd"), ("proftpd", "ProFTPD"), ("pure-ftpd", "Pure-FTPd"), ("microsoft ftp", "Microsoft IIS FTP"),
            ("filezilla server", "FileZilla Server"), ("pasvd", "pasvd"), ("pyftpdlib", "pyftpdlib"), ("serv-u", "Serv-U"),
        ]
        return known.first { text.contains($0.0) }?.1
    }

    /// Feature names the FEAT reply lists (first words upper-cased, plus `AUTH TLS`-style pairs kept whole).
    public var features: [String] {
        guard let feat, feat.code == ReplyCode.systemStatus, feat.lines.count > 2 else { return [] }
        return feat.lines.dropFirst().dropLast().compactMap { line -> String? in
            let words = line.split(separator: " ")
            guard let first = words.first else { return nil }
            let name = first.uppercased()
            if (name == "AUTH" || name == "REST") && words.count > 1 { return "\(name) \(words[1].uppercased())" }
            return name
        }
    }

    public var advertisesTLS: Bool { features.contains { $0.hasPrefix("AUTH") } }

    /// The endpoint in the server's 227 reply, if it sent a readable one.
    public var announcedPassiveEndpoint: PassiveEndpoint? {
        guard let reply = pasv.reply, reply.code == ReplyCode.enteringPassive else { return nil }
        return PassiveReplyParser.endpoint(of: reply)
    }

    public var advertisedAddress: AdvertisedAddress? {
        guard let host = announcedPassiveEndpoint?.host, let octets = PassiveEndpoint.ipv4Octets(host) else { return nil }
        if host == localHost { return .localListenAddress }
        if octets[0] == 127 { return .otherLoopback(host) }
        if octets.allSatisfy({ $0 == 0 }) { return .unspecified }
        let isPrivate = octets[0] == 10 || (octets[0] == 172 && (16...31).contains(octets[1]))
            || (octets[0] == 192 && octets[1] == 168) || (octets[0] == 100 && (64...127).contains(octets[1]))
            || (octets[0] == 169 && octets[1] == 254)
        return isPrivate ? .privateNetwork(host) : .publicAddress(host)
    }

    /// The rewrite-mode tunnel's own 425 (it could not bind a local data port), when the check met one.
    public var tunnelListenerFailure: String?

    /// A 425 the tunnel itself sent (no local data listener), not the server's.
    public static func isTunnelListenerFailure(_ reply: FTPReply) -> Bool {
        reply.code == ReplyCode.cannotOpenData && reply.text.contains(FilterReply.listenerFailedMarker)
    }

    /// The tunnel itself (not the server) could not open a local data listener: a port clash on this machine.
    public var localListenerFailed: Bool {
        tunnelListenerFailure != nil || [epsv.reply, pasv.reply].contains { $0.map(Self.isTunnelListenerFailure) == true }
    }

    /// REST 0 answered 350: interrupted transfers can be resumed (curl -C -, lftp reget).
    public var canResume: Bool? { rest.map { $0.code == 350 } }

    /// Rewrite mode fits when a data connection worked through the tunnel (the check runs in rewrite mode).
    public var rewriteFits: Bool { epsv.worked || pasv.worked }

    /// Fixed mode can only work when the server advertises exactly the local listen address.
    public var fixedCanFit: Bool { advertisedAddress == .localListenAddress }

    /// True when a LIST worked through the tunnel in either mode (`ftptunnel check` exits 0).
    public var anyDataPathWorks: Bool { rewriteFits || fixedList == .worked }

    public var recommendedMode: TunnelSettings.Mode? {
        if rewriteFits { return .rewrite }
        return fixedCanFit || fixedList == .worked ? .fixed : nil
    }

    // MARK: Report

    /// The text `ftptunnel check` prints.
    public func report() -> String {
        var out: [String] = []
        let banner = quoted(self.banner?.lines.first ?? "(none)")
        if let name = serverSoftware {
            out.append("Server: \(name) at \(ftpHost) (as seen from the SSH server), banner \(banner)")
        } else {
            out.append("Server: \(ftpHost) (as seen from the SSH server; its banner does not name the software), banner \(banner)")
        }
        if feat == nil || features.isEmpty {
            out.append("Features: the server did not answer FEAT with a feature list.")
        } else {
            out.append("Features: \(features.joined(separator: ", "))")
        }
        out.append("Data connections through the tunnel:")
        out.append("  EPSV + LIST: \(describe(epsv, method: "EPSV"))")
        out.append("  PASV + LIST: \(describe(pasv, method: "PASV"))")
        if fixedList != .notTried {
            out.append("  PASV + LIST in fixed mode: \(describe(DataProbe(reply: pasv.reply, list: fixedList), method: "PASV"))")
        }
        out.append("Server advertises: \(advertisedAddressText)")
        if let canResume, let rest {
            out.append(canResume
                ? "Resume: supported (REST): interrupted transfers can continue where they stopped (curl -C -, lftp reget)."
                : "Resume: not supported: the server answered REST with \(quoted(rest.lines.first ?? "")), so an interrupted transfer starts again from the beginning.")
        }
        out.append(contentsOf: modeLines)
        if anyDataPathWorks { out.append(contentsOf: clientSettingLines) }
        return out.joined(separator: "\n") + "\n"
    }

    private func describe(_ probe: DataProbe, method: String) -> String {
        if let reply = probe.reply, Self.isTunnelListenerFailure(reply) {
            return "refused by the tunnel itself: it could not open a local data listener (\(quoted(reply.lines.first ?? "")))"
        }
        let replyText = probe.reply.map { " (server said \(quoted($0.lines.first ?? "")))" } ?? ""
        switch probe.list {
        case .worked:
            return "works\(replyText)"
        case .notTried:
            if let reply = probe.reply, reply.code >= 400 { return "refused by the server\(replyText)" }
            return "not tried\(replyText)"
        case .failed(let reason):
            return "failed: \(reason)\(replyText)"
        }
    }

    private var advertisedAddressText: String {
        guard let endpoint = announcedPassiveEndpoint, let host = endpoint.host else {
            if pasv.reply != nil { return "a 227 reply ftptunnel cannot read, so PASV clients need EPSV or rewrite mode's 425 handling." }
            return "no PASV address (PASV not tried or refused)."
        }
        switch advertisedAddress {
        case .localListenAddress?:
            return "\(host) in its 227 replies: correct from the client side, so fixed mode can work too."
        case .otherLoopback?:
            return "\(host) in its 227 replies: the server's own loopback address, which is wrong from the client side "
                + "(a client would connect to \(host) on its own machine); rewrite mode ignores it."
        case .unspecified?:
            return "0.0.0.0 in its 227 replies, which no client can connect to; rewrite mode ignores it."
        case .privateNetwork?:
            return "the private address \(host) in its 227 replies, which is wrong from the client side of the tunnel; "
                + "rewrite mode ignores it and connects to \(ftpHost):port from the SSH server."
        case .publicAddress?:
            return "the address \(host) in its 227 replies, which clients of the tunnel must not use; "
                + "rewrite mode ignores it and connects to \(ftpHost):port from the SSH server."
        case nil:
            return "\(host) in its 227 replies."
        }
    }

    private var modeLines: [String] {
        var lines: [String] = []
        if rewriteFits {
            lines.append("Mode: rewrite fits (the default): data connections work through the tunnel, passive and active.")
        } else if localListenerFailed {
            lines.append("Mode: not known yet: the tunnel could not bind a local data port in "
                + (localPassivePorts.map { "--passive-ports/PassivePorts \($0)" } ?? "its data port range")
                + " on this machine. Another program or tunnel (e.g. a running fixed-mode `ftptunnel connect`) holds those "
                + "ports: stop it, choose a free range, or leave PassivePorts unset (rewrite mode then uses any free port).")
        } else if fixedList == .worked {
            lines.append("Mode: rewrite did not work through the tunnel (see above).")
        } else {
            lines.append("Mode: no data connection worked through the tunnel. Check that FTPHost (\(ftpHost)) is the FTP "
                + "server's address as seen from the SSH server, and that the server accepts data connections from there.")
        }
        if fixedList == .worked {
            lines.append("      fixed fits: a LIST worked through the fixed-mode tunnel with this PassivePorts range"
                + (advertisesTLS ? "; use it if you need FTPS." : "."))
        } else if case .failed = fixedList {
            lines.append("      fixed does not fit with these settings: the LIST through the fixed-mode tunnel failed (see above).")
        } else if fixedCanFit {
            lines.append("      fixed also fits if PassivePorts covers the server's passive port range"
                + (advertisesTLS ? "; use it if you need FTPS (rewrite mode answers AUTH with 534)." : "."))
        } else if announcedPassiveEndpoint != nil {
            lines.append("      fixed does not fit: it needs a server that advertises \(localHost) in its 227 replies.")
        }
        if advertisesTLS && rewriteFits {
            lines.append("      The server offers AUTH TLS; in rewrite mode clients get 534 and continue in plain FTP inside SSH.")
        }
        return lines
    }

    private var clientSettingLines: [String] {
        let url = "ftp://\(localHost):\(localPort)"
        let epsvBroken = pasv.worked && !epsv.worked
        var curl = "curl \(url)/PATH"
        if epsvBroken { curl += " --disable-epsv" }
        var lftpSettings = ["set ftp:ssl-allow no", "set ftp:passive-mode on"]
        if epsvBroken { lftpSettings.append("set ftp:prefer-epsv no") }
        return [
            "Client settings (\(url)):",
            "  curl:      \(curl)   " + (rewriteFits && configuredMode != .fixed
                ? "(active mode with -P - works too)" : "(passive mode only: fixed mode cannot carry active mode)"),
            "  lftp:      lftp -e '\(lftpSettings.joined(separator: "; "))' -p \(localPort) \(localHost)",
            "  FileZilla: Site Manager → Protocol FTP, Host \(localHost), Port \(localPort), Encryption "
                + "\"Only use plain FTP (insecure)\" (SSH encrypts it); Transfer mode Passive.",
            "  WinSCP:    File protocol FTP, Encryption \"No encryption\", Host name \(localHost), Port number \(localPort); "
                + "Advanced → Connection: Passive mode on.",
        ]
    }

    private func quoted(_ text: String) -> String { "\"\(ControlStreamFilter.sanitized(text))\"" }
}
