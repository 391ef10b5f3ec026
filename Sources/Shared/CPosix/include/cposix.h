#ifndef CPOSIX_H
#define CPOSIX_H
// Linux calls Swift cannot reach directly: variadic syscall(2), the CMSG macros of SCM_RIGHTS, mallopt, and flags
// Glibc only exports under _GNU_SOURCE. Only Sources/Shared/Posix imports this module.
#include <stdint.h>
#include <sys/types.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>

/// RESOLVE_* flags of openat2(2) (linux/openat2.h).
static const uint64_t cposix_resolve_in_root = 0x10;
static const uint64_t cposix_resolve_no_magiclinks = 0x02;

/// Descriptors one message may carry into `cposix_receive_with_fds`; more are closed on arrival.
#define CPOSIX_MAXIMUM_PASSED_FDS 4

/// O_TMPFILE (an unnamed file in the given directory), O_PATH (a descriptor that only names), AT_SYMLINK_FOLLOW,
/// and recvmsg's MSG_CTRUNC / MSG_TRUNC (control data or bytes did not fit).
extern const int cposix_o_tmpfile;
extern const int cposix_o_path;
extern const int cposix_at_symlink_follow;
extern const int cposix_msg_ctrunc;
extern const int cposix_msg_trunc;

/// ioctl(SIOCOUTQ): bytes in a TCP socket's send queue the peer has not acknowledged (on loopback: not yet taken
/// into the reader's receive buffer); -1 with errno set. (ioctl is variadic.)
int cposix_unsent_bytes(int fd);

/// openat2(2) with `struct open_how` {flags, mode, resolve}: returns the descriptor or -1 with errno set.
int cposix_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);

/// sendmsg(2) of `count` bytes with descriptor `fd` attached as SCM_RIGHTS (none when fd < 0), MSG_NOSIGNAL added.
ssize_t cposix_send_with_fd(int socket, const void *bytes, size_t count, int fd, int flags);

/// recvmsg(2) with MSG_CMSG_CLOEXEC: the bytes into `bytes`, up to `maximum_fds` passed descriptors into `fds`
/// (`received_fds` of them; extra ones are closed), recvmsg's msg_flags into `message_flags`.
ssize_t cposix_receive_with_fds(int socket, void *bytes, size_t count, int *fds, int maximum_fds, int *received_fds,
                                int *message_flags, int flags);

/// mallopt(M_ARENA_MAX, count): at most `count` glibc malloc arenas in this process. Returns 1 on success.
int cposix_limit_malloc_arenas(int count);

/// malloc_trim(0): returns the free memory of every arena to the kernel. Returns 1 when some was released.
int cposix_release_free_memory(void);
/// getsockopt(SO_PEERCRED) on a local socket (struct ucred is _GNU_SOURCE only): 0, or -1 with errno set.
int cposix_peer_credentials(int fd, uid_t *uid, pid_t *pid);

/// prctl(PR_SET_NO_NEW_PRIVS, 1): execve(2) can never grant this process or its children privileges again.
/// Returns 0 or -1 with errno set.
int cposix_forbid_new_privileges(void);

/// 1 when the calling thread has no effective or permitted capability (ambient ones are a subset) (capget(2)), 0 when it has one,
/// -1 with errno set when the kernel cannot tell.
int cposix_has_no_capabilities(void);

/// inet_diag (NETLINK_SOCK_DIAG) for the kernel's TCP socket table: the structs come from linux/inet_diag.h; these
/// are the values Swift cannot import from macros. `cposix_inet_diag_no_cookie` asks for a socket by its addresses
/// alone; `cposix_tcp_new_syn_recv` is a request socket (handshake not finished: no owner of its own).
static const uint32_t cposix_inet_diag_no_cookie = INET_DIAG_NOCOOKIE;
static const uint8_t cposix_tcp_established = 1;
static const uint8_t cposix_tcp_time_wait = 6;
static const uint8_t cposix_tcp_listen = 10;
static const uint8_t cposix_tcp_new_syn_recv = 12;

/// pidfd_open(2): a descriptor that becomes readable when process `pid` (our child) exits; -1 with errno set.
int cposix_pidfd_open(pid_t pid);

/// pipe2(2) with O_CLOEXEC on both ends, and O_NONBLOCK when `nonblocking` (Glibc's Swift module does not export
/// pipe2).
int cposix_pipe(int fds[2], int nonblocking);

#endif
