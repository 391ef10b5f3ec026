import CPosix
#if canImport(Glibc)
import Glibc
#endif

/// The one-way steps that take a process's view of the file system and its ways back to privilege away.
public enum PosixConfinement {
    /// Makes a private directory under `parent` (mkdtemp, mode 0700), makes it the root of this process
    /// (chdir, rmdir, chroot(".")) and the working directory. The directory is deleted before it becomes the root,
    /// so it stays empty for good (the kernel creates nothing in a deleted directory) and leaves nothing behind.
    /// Needs CAP_SYS_CHROOT; call it while still privileged, before the identity switch.
    public static func enterEmptyRoot(under parent: String) throws(PosixError) {
        var template = Array((parent + "/pasvd-empty.XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw PosixError("mkdtemp in \(parent)", code: errno)
        }
        let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        do {
            try Posix.callBlocking("chdir \(path)") { chdir(path) }
        } catch {
            rmdir(path)
            throw error
        }
        try Posix.callBlocking("rmdir \(path)") { rmdir(path) }
        try Posix.callBlocking("chroot into the emptied \(path)") { chroot(".") }
        try Posix.callBlocking("chdir / in the new root") { chdir("/") }
    }

    /// PR_SET_NO_NEW_PRIVS: no execve(2) of this process or its children gains privileges again.
    public static func forbidNewPrivileges() throws(PosixError) {
        try Posix.callBlocking("prctl PR_SET_NO_NEW_PRIVS") { cposix_forbid_new_privileges() }
    }

    /// True when the process holds no effective or permitted capability.
    public static var hasNoCapabilities: Bool { cposix_has_no_capabilities() == 1 }
}
