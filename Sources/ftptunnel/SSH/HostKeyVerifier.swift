import Foundation
import Posix
import Logging
import ProgramSupport
import TunnelCore

/// Decides whether to trust the key a server presented, like OpenSSH's StrictHostKeyChecking.
/// A changed or revoked key is refused whatever the policy, before any prompt; "changed" means the host has any
/// key on record (user or system file) and the presented key is none of them, whatever its type.
struct HostKeyVerifier {
    let host: String
    let port: Int
    /// Files read and (the first) updated; from UserKnownHostsFile, default ~/.ssh/known_hosts.
    let userFiles: [String]
    /// Read-only system-wide files.
    let globalFiles: [String]
    let policy: TunnelSettings.HostKeyPolicy
    let prompt: SecretPrompt
    let logger: Logger

    /// OpenSSH's GlobalKnownHostsFile default (read, never written).
    static let globalKnownHostsFile = "/etc/ssh/ssh_known_hosts"

    init(settings: TunnelSettings, prompt: SecretPrompt, logger: Logger, home: String) {
        host = settings.sshHost
        port = settings.sshPort
        userFiles = settings.knownHostsFiles.isEmpty
            ? ["\(home)/.ssh/known_hosts"]
            : settings.knownHostsFiles.map { PathExpansion.expand($0, home: home) }
        globalFiles = [Self.globalKnownHostsFile]
        // Without a terminal nobody can answer "ask": behave like `yes` (OpenSSH's BatchMode result).
        policy = settings.strictHostKeyChecking ?? (PosixTerminal.isTerminal(STDIN_FILENO) ? .ask : .yes)
        self.prompt = prompt
        self.logger = logger
    }

    /// Every file, read now; lines that cannot be read are reported (file:line) when `warn` and ignored.
    func knownHosts(warn: Bool) throws -> [KnownHostsFile] {
        var files: [KnownHostsFile] = []
        for path in userFiles + globalFiles {
            let file: KnownHostsFile
            do { file = try KnownHostsReader.load(path) } catch { throw SSHError.knownHostsUnreadable(error) }
            if warn {
                for skipped in file.skipped {
                    logger.warning("\(VisibleText.of(path)):\(skipped.line): line ignored: \(skipped.reason); fix or delete it (the other lines of the file still count).")
                }
            }
            files.append(file)
        }
        return files
    }

    /// Host-key algorithms to offer, from the key types on record (DESIGN 3.2); empty when the host is unknown.
    func preferredKeyTypes() throws -> [String] { try knownHosts(warn: true).keyTypes(host: host, port: port) }

    func verify(keyType: String, blob: [UInt8]) throws {
        let keyBase64 = Data(blob).base64EncodedString()
        let fingerprint = Fingerprint.sha256(ofKeyBlob: blob)
        let name = KnownHostsFile.hostName(host, port: port)
        switch try knownHosts(warn: false).status(host: host, port: port, keyType: keyType, keyBlob: blob) {
        case .known(let file, let line):
            logger.debug("host key matches", metadata: ["file": "\(file):\(line)", "key": "\(keyType) \(fingerprint)"])
        case .revoked(let file, let line):
            throw SSHError.hostKeyRevoked(host: name, fingerprint: fingerprint, file: file, line: line)
        case .changed(let recorded):
            throw SSHError.hostKeyChanged(host: name, keyType: keyType, presented: fingerprint, recorded: recorded)
        case .unknown:
            try handleUnknown(name: name, keyType: keyType, keyBase64: keyBase64, fingerprint: fingerprint)
        }
    }

    private func handleUnknown(name: String, keyType: String, keyBase64: String, fingerprint: String) throws {
        let file = userFiles[0]
        switch policy {
        case .yes:
            throw SSHError.hostKeyUnknown(host: name, fingerprint: "\(keyType) \(fingerprint)", knownHosts: file, policy: policy.rawValue)
        case .ask:
            guard prompt.canAsk else {
                throw SSHError.hostKeyUnknown(host: name, fingerprint: "\(keyType) \(fingerprint)", knownHosts: file, policy: "ask (no terminal to ask on)")
            }
            try confirm(name: name, keyType: keyType, fingerprint: fingerprint)
        case .acceptNew, .no:
            break
        }
        try record(line: KnownHostsFile.line(host: host, port: port, keyType: keyType, keyBase64: keyBase64), in: file)
        logger.notice("Permanently added '\(name)' (\(keyType) \(fingerprint)) to the list of known hosts (\(file)).")
    }

    /// OpenSSH's question, asked until the answer is yes, no or a fingerprint (`HostKeyAnswer`).
    private func confirm(name: String, keyType: String, fingerprint: String) throws {
        var question = "The authenticity of host '\(name)' can't be established.\n\(keyType) key fingerprint is \(fingerprint).\n"
            + HostKeyAnswer.question
        for _ in 0..<HostKeyAnswer.maximumQuestions {
            guard let input = prompt.ask(question, echo: true) else { break }
            switch HostKeyAnswer(input, fingerprint: fingerprint) {
            case .accept: return
            case .refuse: throw SSHError.hostKeyRejected(host: name, fingerprint: fingerprint)
            case .otherFingerprint(let pasted):
                throw SSHError.hostKeyFingerprintMismatch(host: name, presented: fingerprint, pasted: pasted)
            case .askAgain: question = HostKeyAnswer.again
            }
        }
        throw SSHError.hostKeyRejected(host: name, fingerprint: fingerprint)
    }

    /// Appends one line, creating the file (0600) and its directory (0700) when missing. The file's own line end
    /// (LF or CRLF) is used, and one is added first when its last line has none.
    private func record(line: String, in file: String) throws {
        // A bare relative name ("kh") lives in the working directory.
        let parent = (file as NSString).deletingLastPathComponent
        let directory = parent.isEmpty ? "." : parent
        do {
            if !FileManager.default.fileExists(atPath: directory) {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            }
            let existing = try KnownHostsReader.bytes(of: file)
            do throws(PosixError) {
                let known = try PosixFile.open(file, flags: O_WRONLY | O_CREAT | O_APPEND, mode: 0o600)
                defer { PosixDescriptor.close(known) }
                try PosixFile.writeAll(known, KnownHostsFile.appendix(for: line, after: existing))
            } catch {
                throw SSHError.cannotRecordHostKey(file: file, reason: error.reason)
            }
        } catch let error as SSHError {
            throw error
        } catch let error as KnownHostsError {
            throw SSHError.knownHostsUnreadable(error)
        } catch {
            throw SSHError.cannotRecordHostKey(file: file, reason: (error as NSError).localizedDescription)
        }
    }
}

/// `~` and `~/…` expansion for paths from settings.
enum PathExpansion {
    static func expand(_ path: String, home: String) -> String {
        if path == "~" { return home }
        if path.hasPrefix("~/") { return home + path.dropFirst() }
        return path
    }

    static var home: String {
        if let home = ProcessInfo.processInfo.environment["HOME"], !home.isEmpty { return home }
        return NSHomeDirectory()
    }
}
