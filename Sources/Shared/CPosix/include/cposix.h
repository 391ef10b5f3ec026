#ifndef CPOSIX_H
#define CPOSIX_H
// Linux calls Swift cannot reach directly: variadic syscall(2), and flags Glibc only exports under _GNU_SOURCE.
// Only Sources/Shared/Posix imports this module.
#include <stdint.h>
#include <sys/types.h>

/// RESOLVE_* flags of openat2(2) (linux/openat2.h).
static const uint64_t cposix_resolve_in_root = 0x10;
static const uint64_t cposix_resolve_no_magiclinks = 0x02;

/// O_TMPFILE (an unnamed file in the given directory), O_PATH (a descriptor that only names), AT_SYMLINK_FOLLOW.
extern const int cposix_o_tmpfile;
extern const int cposix_o_path;
extern const int cposix_at_symlink_follow;

/// ioctl(SIOCOUTQ): bytes in a TCP socket's send queue the peer has not acknowledged (on loopback: not yet taken
/// into the reader's receive buffer); -1 with errno set. (ioctl is variadic.)
int cposix_unsent_bytes(int fd);

/// openat2(2) with `struct open_how` {flags, mode, resolve}: returns the descriptor or -1 with errno set.
int cposix_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);

#endif
