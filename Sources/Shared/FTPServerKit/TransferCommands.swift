import Foundation
import Posix
import FTPCore

/// PASV, EPSV, RETR, STOR, APPE, STOU: passive listeners and the transfers over them.
extension Session {
    /// RFC 2428 network protocol of the control connection: 1 (IPv4) or 2 (IPv6); data listeners use the same.
    var networkProtocol: String { localHost.contains(":") ? "2" : "1" }

    func enterPassive(extended: Bool, _ argument: String) {
        if extended {
            switch argument.uppercased() {
            case "ALL":
                extendedPassiveOnly = true
                return reply(ReplyCode.commandOK, "EPSV ALL ok.")
            case "", networkProtocol: break
            default:
                return reply(ReplyCode.extendedPortProtocolNotSupported, "Network protocol not supported, use (\(networkProtocol)).")
            }
        } else if extendedPassiveOnly {
            return reply(ReplyCode.badSequence, "PASV not allowed after EPSV ALL.")
        } else if networkProtocol == "2" {
            // A 227 reply carries an IPv4 address only (RFC 2428 §3).
            return reply(ReplyCode.cannotOpenData, "PASV cannot describe an IPv6 data address; use EPSV.")
        }
        closePassive()
        guard let listener = passivePorts.open(on: localHost) else {
            logger.warning("passive range \(settings.passivePorts) exhausted")
            return reply(ReplyCode.cannotOpenData, "No passive port free in \(settings.passivePorts); try again later.")
        }
        passive = listener
        passiveDeadline = Monotonic.now() + settings.dataTimeout
        logger.debug("passive listener \(localHost):\(listener.port)")
        let endpoint = PassiveEndpoint(host: settings.passiveAddress, port: listener.port)
        if extended {
            reply(ReplyCode.enteringExtendedPassive, String(endpoint.extendedPassiveReply().dropFirst(4)))
        } else {
            reply(ReplyCode.enteringPassive, String(endpoint.passiveReply()!.dropFirst(4)))
        }
    }

    /// Lowest port PORT/EPRT may name (no connections to system services).
    static let lowestActivePort = 1024

    /// PORT h1,…,p2 and EPRT |af|addr|port| (when the server offers `ExtraCommand.activeMode`): the next transfer
    /// connects to the client, which must be the control connection's own peer address.
    func enterActive(extended: Bool, _ argument: String) {
        guard settings.extraCommands.contains(.activeMode) else {
            return reply(ReplyCode.notImplemented, CommandTable.activeRefusal)
        }
        guard !extendedPassiveOnly else { return reply(ReplyCode.badSequence, "PORT and EPRT not allowed after EPSV ALL.") }
        let endpoint: PassiveEndpoint?
        if extended {
            guard let parsed = PassiveEndpoint.parseExtendedPort(Substring(argument)) else {
                return reply(ReplyCode.extendedPortProtocolNotSupported, "EPRT needs |1|address|port| or |2|address|port|.")
            }
            endpoint = parsed.endpoint
        } else {
            endpoint = PassiveEndpoint.parseSixNumbers(Substring(argument))
        }
        guard let endpoint, let host = endpoint.host, let address = SocketAddress(host: host, port: endpoint.port) else {
            return reply(ReplyCode.parameterSyntaxError, "Cannot parse the \(extended ? "EPRT" : "PORT") address.")
        }
        guard address.host == peerHost, endpoint.port >= Session.lowestActivePort else {
            logger.warning("active target \(endpoint) refused: control peer is \(peerHost ?? "?")")
            return reply(ReplyCode.parameterSyntaxError,
                         "Active mode connects only to your own address (\(peerHost ?? "?")), port \(Session.lowestActivePort) or above.")
        }
        let verb = extended ? "EPRT" : "PORT"
        // Nothing listening there yet is the transfer's 425, as a refused connect always was.
        if let refusal = activeTargetRefusal(address), !refusal.nothingListens {
            logger.warning("\(verb) to \(address) refused: \(refusal)")
            return reply(ReplyCode.parameterSyntaxError, ActiveTargetRefusal.replyText(verb: verb))
        }
        closePassive()
        activeTarget = address
        reply(ReplyCode.commandOK, "\(extended ? "EPRT" : "PORT") command successful; consider using EPSV.")
    }

    /// Nil when `target` is a listening socket of the control connection's own client (`ActiveTargetGuard`).
    func activeTargetRefusal(_ target: SocketAddress) -> ActiveTargetRefusal? {
        if activeTargetGuard == nil {
            do throws(ActiveTargetRefusal) {
                activeTargetGuard = try ActiveTargetGuard(controlConnection: control.input)
            } catch {
                return error
            }
        }
        return activeTargetGuard?.check(target: target)
    }

    /// Connects to the PORT/EPRT target (a local client answers at once; bounded by --data-timeout). The target is
    /// checked again (the PORT may be old) and so is the connection made, before a byte is sent.
    private func connectActive(_ target: SocketAddress) -> DataConnection? {
        activeTarget = nil
        if let refusal = activeTargetRefusal(target) {
            logger.warning("active connection to \(target) refused: \(refusal)")
            reply(ReplyCode.cannotOpenData, refusal.nothingListens ? "Cannot connect to \(target): nothing listens there."
                  : "Cannot open data connection: \(ActiveTargetRefusal.replyText(verb: "PORT/EPRT"))")
            return nil
        }
        let milliseconds = Int32(clamping: Int(settings.dataTimeout * 1000))
        do {
            let fd = try PosixSocket.connect(to: target, milliseconds: milliseconds, nonBlocking: false)
            if let refusal = activeTargetGuard.map({ $0.check(connected: fd) }) ?? ActiveTargetRefusal("no client to check against") {
                PosixDescriptor.close(fd)
                logger.warning("active connection to \(target) closed unused: \(refusal)")
                reply(ReplyCode.cannotOpenData, "Cannot open data connection: \(ActiveTargetRefusal.replyText(verb: "PORT/EPRT"))")
                return nil
            }
            return DataConnection(fd: fd, control: control, abortFD: shutdown.abortFD, timeout: settings.dataTimeout)
        } catch {
            logger.info("active connection to \(target) failed: \(error)")
            reply(ReplyCode.cannotOpenData, "Cannot connect to \(target): \(error.reason).")
            return nil
        }
    }

    /// Accepts the one connection of the pending passive listener (from the client's address only), or connects
    /// to the PORT/EPRT target. Replies 425 (or 426 on ABOR) itself and returns nil when there is no connection.
    func acceptDataConnection() -> DataConnection? {
        if let target = activeTarget { return connectActive(target) }
        guard let listener = passive else {
            reply(ReplyCode.cannotOpenData, "Use PASV or EPSV first.")
            return nil
        }
        defer { closePassive() }
        control.inTransfer = true  // ABOR while waiting for the connection counts; queued commands stay bounded
        var connected = false
        defer { if !connected { control.inTransfer = false } }
        let deadline = Monotonic.now() + settings.dataTimeout
        while true {
            var fds = [pollfd(listener.fd, POLLIN), pollfd(fd: control.input, events: control.transferEvents, revents: 0),
                       pollfd(shutdown.abortFD, POLLIN)]
            _ = try? PosixPoll.poll(&fds, milliseconds: Monotonic.milliseconds(until: deadline))
            if fds[2].isReadableOrClosed || Monotonic.now() >= deadline {
                reply(ReplyCode.cannotOpenData, "Failed to establish data connection.")
                return nil
            }
            if fds[1].revents != 0 {
                control.serviceDuringTransfer(revents: fds[1].revents)
                if control.abortRequested {
                    reply(ReplyCode.transferAborted, "Data connection aborted.")
                    reply(ReplyCode.closingData, "ABOR successful.")
                    return nil
                }
                if control.peerClosed || control.writeFailed { shouldClose = true; return nil }
            }
            guard fds[0].isReadableOrClosed,
                  case .done(let (fd, address))? = try? PosixSocket.accept(listener.fd, nonBlocking: false) else { continue }
            let peer = address?.host
            if let peerHost, peer != peerHost {
                logger.warning("data connection from \(peer ?? "?") refused: control peer is \(peerHost)")
                PosixDescriptor.close(fd)
                continue
            }
            connected = true
            return DataConnection(fd: fd, control: control, abortFD: shutdown.abortFD,
                                  timeout: settings.dataTimeout)
        }
    }

    /// Replies for a transfer that did not complete; marks the session for closing if the client left.
    func replyIncomplete(_ end: TransferEnd) {
        switch end {
        case .completed: break
        case .aborted:
            reply(ReplyCode.transferAborted, "Transfer aborted.")
            reply(ReplyCode.closingData, "ABOR successful.")
        case .controlClosed: shouldClose = true
        case .timedOut: reply(ReplyCode.transferAborted, "Data connection timed out.")
        case .shuttingDown:
            reply(ReplyCode.transferAborted, "Server shutting down.")
            shouldClose = true
        case .failed(let reason): reply(ReplyCode.transferAborted, "Transfer failed: \(reason).")
        }
    }

    /// One line per transfer, the same as ftptunnel's rewrite mode prints: `RETR /f 1.0 GiB 4.1 s 262 MB/s`, or
    /// `STOR /g failed after 12 MiB, 2.0 s: aborted`; the figures also as metadata.
    func logTransfer(_ verb: String, _ path: VirtualPath, bytes: Int64, started: Double, end: TransferEnd) {
        let seconds = max(Monotonic.now() - started, 1e-6)
        let rate = Double(bytes) / seconds / 1_048_576
        let line = end == .completed
            ? TransferLine.completed("\(verb) \(path)", bytes: Int(bytes), seconds: seconds)
            : TransferLine.failed("\(verb) \(path)", moved: (Int(bytes), seconds), reason: "\(end)")
        logger.notice("\(line)", metadata: [
            "path": "\(path)", "bytes": "\(bytes)", "seconds": "\(String(format: "%.3f", seconds))",
            "rate": "\(String(format: "%.1f", rate)) MiB/s", "end": "\(end)",
        ])
    }

    func retrieve(_ argument: String) {
        let offset = restartOffset
        restartOffset = 0
        guard let store, let path = virtualPath(argument) else { return }
        var file: FileDownload?
        guard perform({ () throws(FileStoreError) in file = try store.download(path) }), let file else { return }
        guard offset <= file.size else { return reply(ReplyCode.fileUnavailable, "Restart offset beyond end of file.") }
        guard let data = acceptDataConnection() else { return }
        reply(ReplyCode.fileStatusOK, "Opening BINARY mode data connection for \(path.name ?? "/") (\(file.size) bytes).")
        let started = Monotonic.now()
        data.watch = transferObserver?.transferStarted(session: id, verb: "RETR", path: "\(path)",
                                                       expectedBytes: file.size - offset, offset: offset)
        defer { data.watch?.ended() }
        let end = file.send(from: offset, count: file.size - offset, over: data)
        let sent = data.bytes
        withExtendedLifetime(data) {}
        logTransfer("RETR", path, bytes: sent, started: started, end: end)
        end == .completed ? reply(ReplyCode.closingData, "Transfer complete.") : replyIncomplete(end)
    }

    static func verb(of mode: UploadMode) -> String {
        switch mode {
        case .append: return "APPE"
        case .unique: return "STOU"
        default: return "STOR"
        }
    }

    /// STOR, APPE (`.append`) and STOU (`.unique`); STOR after REST becomes `.resume`.
    func store(_ argument: String, mode requested: UploadMode) {
        let offset = restartOffset
        restartOffset = 0
        guard requireWritable(), let store else { return }
        let unique = requested == .unique
        let name = unique ? (argument.isEmpty ? "upload" : argument) : argument
        guard !name.isEmpty else { return reply(ReplyCode.parameterSyntaxError, "A file name is required.") }
        guard let path = virtualPath(name) else { return }
        guard path.name != nil else { return refuse(PathError.isRoot) }
        let mode: UploadMode = requested == .replace && offset > 0 ? .resume(offset: offset) : requested
        var prepared: FileUpload?
        guard perform({ () throws(FileStoreError) in
            prepared = try store.upload(path, mode: mode, deadline: Monotonic.now() + settings.dataTimeout)
        }), let upload = prepared else { return logger.info("upload to \(path) refused") }
        guard let data = acceptDataConnection() else { return upload.discard() }
        reply(ReplyCode.fileStatusOK, unique ? "FILE: \(upload.announcedName)" : "Ok to send data.")
        let started = Monotonic.now()
        data.watch = transferObserver?.transferStarted(session: id, verb: Self.verb(of: requested), path: "\(path)",
                                                       expectedBytes: nil, offset: offset)
        defer { data.watch?.ended() }
        var storeError: FileStoreError?
        var end = data.receive { buffer in
            do throws(FileStoreError) { try upload.write(buffer) } catch { storeError = error; throw error }
        }
        let received = data.bytes
        withExtendedLifetime(data) {}
        if end == .completed {
            // A client that was killed closes both connections: the data EOF must not commit its partial file.
            do { try upload.sync() } catch { end = .failed("\(error)") }
            if end == .completed, control.checkPeerClosed() { end = .controlClosed }
        }
        guard end == .completed else {
            upload.discard()
            logTransfer(Self.verb(of: requested), path, bytes: received, started: started, end: end)
            // The store refused a write (disk full → 552, permission → 550, lost connection → 421).
            if case .system(let failure)? = storeError, failure.code == ECONNABORTED {
                return reply(ReplyCode.transferAborted, "Transfer aborted: connection to the file server lost; send the file again (REST+STOR resumes in place).")
            }
            if let storeError { return refuse(storeError) }
            return replyIncomplete(end)
        }
        do {
            let finalName = try upload.commit()
            logTransfer(Self.verb(of: requested), path.parent.appending(finalName), bytes: received, started: started, end: end)
            reply(ReplyCode.closingData, unique ? "Transfer complete (unique name \(finalName))." : "Transfer complete.")
        } catch {
            logger.error("upload \(path) failed: \(error)")
            reply(ReplyCode.localError, "Could not store the file: \(error).")
        }
    }
}
