import ArgumentParser
import Foundation
import Logging
import Posix
import TunnelCore

extension FTPTunnelCommand {
    /// `ftptunnel check DEST`: probes the FTP server through the tunnel and prints a diagnosis.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Probe the FTP server through the tunnel and say which mode and client settings fit.",
            discussion: """
            Connects like `connect DEST` (on ephemeral local ports, so a running tunnel is not disturbed), reads the \
            server's banner and FEAT, logs in (anonymous, or --ftp-user with the password asked on the terminal or \
            through SSH_ASKPASS), records the raw EPSV and PASV replies, then lists the root directory over EPSV and \
            over PASV through a rewrite-mode tunnel (and over PASV through a fixed-mode tunnel when the settings say \
            Mode fixed with PassivePorts). Prints what works, what the server advertises, which mode fits and the \
            settings for curl, lftp, FileZilla and WinSCP, and whether the SSH server offers SFTP (so that Mode sftp, \
            which needs no FTP server, would fit). With Mode sftp, checks SFTP and SFTPRoot and lists / through the bridge.

            Exit status: 0 at least one data connection worked; 1 none did, or the FTP server could not be checked; \
            2 bad command line, profile or settings; 3 host key unknown, changed or refused; 4 SSH authentication \
            failed; 5 a local port could not be bound; 6 cannot reach the SSH server or the session was lost.
            """
        )

        @OptionGroup var options: TunnelOptions

        @Option(name: .customLong("ftp-user"), help: "FTP login name (default anonymous); the password is asked, never given here.")
        var ftpUser: String?

        func run() throws {
            guard let settings = options.resolveSettingsAndStartLogging() else { throw ExitCode(TunnelExit.usage) }
            let signals = SignalWatcher { number in
                PosixTerminal.restoreEcho()
                Console.interrupted("check interrupted", signal: number)
                Foundation.exit(128 + number)
            }
            defer { signals.cancel() }

            if settings.mode == .sftp {
                let (report, worked) = BridgeCheck(settings: settings, logger: Logger(label: "ftptunnel")).run()
                FileHandle.standardOutput.write(Data(report.utf8))
                if !worked { throw ExitCode(TunnelExit.failure) }
                return
            }
            let check = ServerCheck(settings: settings, ftpUser: ftpUser,
                                    password: FTPPasswordSource(user: ftpUser ?? ServerCheck.anonymousUser),
                                    logger: Logger(label: "ftptunnel"))
            let diagnosis: ServerDiagnosis
            do {
                diagnosis = try check.run()
            } catch {
                TunnelLauncher.report(error)
                if case ServerCheckError.noFTPServer = error {
                    // No FTP server: say whether the SFTP bridge would do instead (on stderr, next to the error).
                    let lines = SFTPProbe(settings: settings, logger: Logger(label: "ftptunnel")).run().reportLines(sftpRoot: settings.sftpRoot)
                    lines.forEach(Console.notice)
                }
                throw ExitCode(error is SSHError || error is BastionError || error is TunnelError ? TunnelExit.status(for: error) : TunnelExit.failure)
            }
            FileHandle.standardOutput.write(Data(diagnosis.report().utf8))
            let sftp = SFTPProbe(settings: settings, logger: Logger(label: "ftptunnel")).run()
            FileHandle.standardOutput.write(Data((sftp.reportLines(sftpRoot: settings.sftpRoot).joined(separator: "\n") + "\n").utf8))
            if !diagnosis.anyDataPathWorks { throw ExitCode(TunnelExit.failure) }
        }
    }
}
