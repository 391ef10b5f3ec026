/// Python helpers for tests that play a compromised login worker: `grab(pid, fd)` takes a copy of another process's
/// descriptor (pidfd_getfd, root only) and `login_workers(listener)` lists the listener's login-worker children.
/// Interpolate at the start of a test script.
public enum LoginWorkerTakeover {
    public static let python = """
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    def grab(pid, fd):
        pidfd = os.pidfd_open(pid)
        got = libc.syscall(438, pidfd, fd, 0)  # pidfd_getfd
        os.close(pidfd)
        if got < 0: raise OSError(ctypes.get_errno(), 'pidfd_getfd')
        return got
    def login_workers(listener):
        found = []
        for entry in os.listdir('/proc'):
            if not entry.isdigit(): continue
            try:
                stat = open('/proc/%s/stat' % entry).read()
                cmdline = open('/proc/%s/cmdline' % entry, 'rb').read()
            except OSError: continue
            if int(stat.rsplit(')', 1)[1].split()[1]) == listener and b'--hand-off-fd' in cmdline: found.append(int(entry))
        return found
    """
}
