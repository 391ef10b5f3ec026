#!/usr/bin/env bash
# `make test`: every system call goes through the Posix target (Sources/Shared/Posix, C shims in
# Sources/Shared/CPosix). Foundation re-exports Glibc, so the compiler lets any file call close(2) or read errno; this
# check reads what each of our other object files links against instead (nm -u on the debug build: a method that
# happens to be called `read` is a Swift symbol, never `read`), and fails with file:line and the Posix type to use.
# A call that must stay raw (async-signal-safety, a hot path measured to matter) carries, on its line, the marker
# comment `// posix-raw: <reason>`; keep those very few.
# Usage: scripts/check-syscalls.sh [bin path] (default: the debug build, .build/debug).
set -uo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."
root=$(pwd -P)  # the build records physical paths
bin=${1:-.build/debug}
[ -d "$bin" ] || { echo "check-syscalls: $bin does not exist: build first (swift build --build-tests)"; exit 1; }

# libc symbol (nm's name), then what to use instead.
read -r -d '' table <<'TABLE'
close                PosixDescriptor.close or OwnedDescriptor
read                 PosixSocket.read, PosixTerminal.readLine or a Posix type that owns the descriptor
write                PosixFile.writeAll, PosixSocket.send or PosixTerminal.write
pread pwrite readv writev   a Posix type (PosixFile, PosixSocket)
open open64 openat openat64 creat   PosixFile.open, PosixFile.openInRoot or PosixTerminal.openControlling
socket socketpair bind listen accept accept4 connect   PosixSocket, PosixLocalSocket, UnixDatagram or DescriptorChannel
poll ppoll select    PosixPoll
fcntl fcntl64 dup dup2 dup3   PosixSocket.setNonBlocking or a new wrapper in Sources/Shared/Posix
setsockopt getsockopt shutdown ioctl getpeername getsockname   PosixSocket
recv recvfrom recvmsg send sendto sendmsg sendfile sendfile64   PosixSocket, DescriptorChannel or PosixFile.sendfile
pipe pipe2           PosixProcess.pipe or WakeUpPipe
unlink unlinkat rename renameat mkdir mkdirat rmdir link linkat symlink symlinkat readlink realpath access   PosixFile
stat stat64 lstat lstat64 fstat fstat64 fstatat fstatat64 chmod fchmod chown fchown umask   PosixFile
truncate ftruncate ftruncate64 lseek lseek64 fsync fdatasync flock futimens   PosixFile
opendir fdopendir readdir readdir64 closedir   PosixFile.directoryNames or PosixDescriptor.openDescriptors
fopen fopen64 fdopen fread fwrite fclose fflush glob glob64 globfree globfree64   PosixFile (open, read, writeAll, glob)
kill waitpid wait fork vfork execv execve execvp posix_spawn posix_spawnp getpid getppid _exit   PosixProcess
signal sigaction sigwait pthread_sigmask sigprocmask raise   PosixSignals
isatty tcgetattr tcsetattr   PosixTerminal
getuid geteuid getgid getegid setuid setgid setgroups getpwuid getpwnam getpwuid_r getpwnam_r   PosixIdentity
chroot chdir prctl   PosixConfinement
strerror strerror_r errno   PosixError (its reason, PosixError.reason(for:), PosixError.lastCode())
usleep nanosleep sleep clock_gettime   PosixClock
gethostname getaddrinfo freeaddrinfo gai_strerror inet_pton inet_ntop   PosixHost or SocketAddress
TABLE

declare -A instead=()
while read -r line; do
  [ -n "$line" ] || continue
  names=${line%%   *}
  advice=${line#*   }
  advice=${advice#"${advice%%[![:space:]]*}"}
  for name in $names; do instead[$name]=$advice; done
done <<<"$table"

offenders=0
checked=0
# Each target's output-file-map.json pairs our sources with their objects.
for map in "$bin"/*.build/output-file-map.json; do
  while IFS=$'\t' read -r source object; do
    case $source in
      "$root"/Sources/Shared/Posix/* | "$root"/Sources/Shared/CPosix/*) continue ;;
      "$root"/Sources/*) ;;
      *) continue ;;
    esac
    # A map of a target that no longer exists (or a moved file) names a source that is gone: a stale build product.
    [ -f "$source" ] || continue
    [ -f "$object" ] || { echo "check-syscalls: $object (of $source) is missing: build first"; offenders=$((offenders + 1)); continue; }
    relative=${source#"$root"/}
    checked=$((checked + 1))
    # The libc functions this file calls: undefined C symbols, plus the Swift symbols of the Glibc overlay (the
    # module's own open, fcntl, ioctl and errno: `$s5Glibc5fcntl…` names `fcntl`).
    for symbol in $(nm -u --format=just-symbols "$object" | awk '
        /^\$s5Glibc[0-9]/ { rest = substr($0, 9); match(rest, /^[0-9]+/); print substr(rest, RLENGTH + 1, substr(rest, 1, RLENGTH) + 0); next }
        /^[A-Za-z_][A-Za-z0-9_]*$/ { print }' | sort -u); do
      [ -n "${instead[$symbol]+set}" ] || continue
      if [ "$symbol" = errno ]; then pattern='(^|[^A-Za-z0-9_.]|Glibc\.|Foundation\.)errno([^A-Za-z0-9_]|$)'
      else pattern="(^|[^A-Za-z0-9_.]|Glibc\\.|Foundation\\.)$symbol([^A-Za-z0-9_]|\$)"; fi
      # Lines naming the symbol, outside comments, not declarations of a method of the same name.
      lines=$(grep -nE "$pattern" "$source" | grep -vE '^[0-9]+:[[:space:]]*///?' | grep -vE "func $symbol[(<]" || true)
      unmarked=$(grep -v '// posix-raw: [^[:space:]]' <<<"$lines" | grep . || true)
      if [ -z "$lines" ]; then
        echo "$relative: calls $symbol (line not found); use ${instead[$symbol]} (Sources/Shared/Posix)"
        offenders=$((offenders + 1))
      elif [ -n "$unmarked" ]; then
        while IFS=: read -r number _; do
          echo "$relative:$number: raw $symbol outside Posix; use ${instead[$symbol]} (Sources/Shared/Posix)"
          offenders=$((offenders + 1))
        done <<<"$unmarked"
      fi
    done
  done < <(jq -r 'to_entries[] | select(.value.object != null) | [.key, .value.object] | @tsv' "$map")
done

if [ $checked -eq 0 ]; then
  echo "check-syscalls: no object file of Sources/ found under $bin: build first (swift build --build-tests)"
  exit 1
fi
if [ $offenders -gt 0 ]; then
  echo "check-syscalls: $offenders raw libc call(s) outside Sources/Shared/Posix: route each through a Posix type (add" \
    "a small, typed wrapper there if none fits), or, if it truly must stay raw, end its line with" \
    "'// posix-raw: <reason>'"
  exit 1
fi
echo "check-syscalls: $checked files, no raw libc calls outside Sources/Shared/Posix and Sources/Shared/CPosix"
