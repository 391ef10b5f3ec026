import ArgumentParser
import Foundation
import Logging
import Posix
import TunnelCore

extension FTPTunnelCommand {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open the tunnel, run a command with FTPTUNNEL_URL/HOST/PORT set, then close the tunnel.",
            discussion: """
            Example: ftptunnel run mysite -- curl -s "$FTPTUNNEL_URL/file" (quote the variable so your shell \
            does not expand it too early: ftptunnel run mysite -- sh -c 'curl -s "$FTPTUNNEL_URL/file" -o file').

            \(TunnelHelp.serverAlive)

            \(TunnelExit.helpText)
            """
        )

        @OptionGroup var options: TunnelOptions

        @Argument(parsing: .postTerminator, help: "The command to run, after `--`.")
        var command: [String] = []

        func validate() throws {
            if command.isEmpty { throw ValidationError("no command given: put it after `--`, e.g. ftptunnel run SITE -- curl -s URL") }
        }

        func run() throws {
            let launcher = TunnelLauncher(options: options)
            guard let (tunnel, settings) = launcher.prepare() else { throw ExitCode(TunnelExit.usage) }
            let status = CommandRunner(tunnel: tunnel, settings: settings, command: command, destination: options.destination).run()
            if status != 0 { throw ExitCode(status) }
        }
    }
}

/// Brings the tunnel up on a thread, runs the command with the tunnel's URL in its environment, waits, tears down.
struct CommandRunner {
    let tunnel: Tunnel
    let settings: TunnelSettings
    let command: [String]
    /// DEST as given: names the control socket.
    let destination: String

    /// The running command's pid, shared with the signal handler.
    private final class ChildPID: @unchecked Sendable {
        private let lock = NSLock()
        private var pid: pid_t = 0
        var value: pid_t {
            get { lock.lock(); defer { lock.unlock() }; return pid }
            set { lock.lock(); pid = newValue; lock.unlock() }
        }
    }

    func run() -> Int32 {
        let child = ChildPID()
        let tunnel = self.tunnel
        let control = TunnelControl(name: ControlSocketPath.socketName(for: destination), settings: settings,
                                    activity: tunnel.activity) {
            Console.notice("stop requested (ftptunnel stop): ending the command and closing the tunnel")
            let pid = child.value
            if pid > 0 { PosixProcess.signal(pid, SIGTERM) }
            tunnel.stop()
        }
        // `run` works without its control socket (a `connect` of the same name may hold it): status is a bonus here.
        let server: ControlServer?
        do {
            server = try ControlServer.claim(ControlSocketPath(destination: destination), handler: control.answer, logger: tunnel.logger)
        } catch {
            tunnel.logger.info("no control socket for this run (\(error))")
            server = nil
        }
        server?.start()
        defer { server?.close() }
        let signals = SignalWatcher.stopping(tunnel, server: server) { number in
            let pid = child.value
            if pid > 0 { PosixProcess.signal(pid, number == SIGHUP ? SIGHUP : SIGTERM) }
        }
        defer { signals.cancel() }

        let background: BackgroundTunnel
        let ready: TunnelReady
        do {
            (background, ready) = try BackgroundTunnel.start(tunnel, name: "the tunnel", logger: Logger(label: "ftptunnel"))
        } catch TunnelError.stoppedBeforeReady {
            return TunnelExit.ok
        } catch {
            TunnelLauncher.report(error)
            return TunnelExit.status(for: error)
        }
        control.markReady(ready)
        TunnelLauncher.printReady(ready, settings: settings, logger: tunnel.logger)

        var environment = ProcessInfo.processInfo.environment
        environment["FTPTUNNEL_URL"] = ready.url
        environment["FTPTUNNEL_HOST"] = ready.bindAddress
        environment["FTPTUNNEL_PORT"] = "\(ready.localPort)"
        let status: Int32
        do {
            let pid = try ChildProcess.spawn(command, environment: environment)
            child.value = pid
            status = ChildProcess.wait(pid)
        } catch {
            TunnelLauncher.report(error)
            status = ChildProcess.notFound
        }
        background.stop(waitingAtMost: nil)
        if let lateError = background.failureAfterReady { TunnelLauncher.report(lateError) }
        return status
    }
}

/// posix_spawn of the user's command (never Foundation.Process) and its exit status.
enum ChildProcess {
    /// Shell convention for "command not found".
    static let notFound: Int32 = 127

    struct SpawnError: Error, CustomStringConvertible {
        let command: String
        let reason: String
        var description: String { "cannot run \(command): \(reason); check the command after `--` exists and is executable" }
    }

    static func spawn(_ argv: [String], environment: [String: String]) throws -> pid_t {
        do {
            return try PosixProcess.spawn(argv[0], arguments: argv, environment: environment.map { "\($0.key)=\($0.value)" },
                                          defaultSignals: [SIGINT, SIGTERM, SIGHUP, SIGPIPE], searchPath: true)
        } catch {
            throw SpawnError(command: argv[0], reason: error.reason)
        }
    }

    /// Waits for `pid`; returns its exit status, or 128+N when killed by signal N.
    static func wait(_ pid: pid_t) -> Int32 { PosixProcess.wait(pid) ?? TunnelExit.failure }
}
