#!/usr/bin/env bash
# make test's install phase: what a user or a packager gets from `make install`, `make uninstall` and `make deb`.
#   1. make install into a DESTDIR: every file there and nothing else, the binaries run (--version, --help) without
#      the Swift toolchain's libraries, man pages render without warnings (groff, mandoc -T lint), completions
#      load in bash, zsh and fish and complete a profile name (real shells on a pty, in tmux), the units pass
#      systemd-analyze verify; make uninstall leaves no file behind
#   2. make deb: both packages, apt-get install, the units verified in place, an end-to-end run from the installed
#      files (pasvd from /usr/sbin behind a test sshd, under the unit's no-new-privileges and capability bounding
#      set; ftptunnel from /usr/bin, telling a notify socket READY=1; curl down and up, hashed at both ends), then
#      apt-get purge and nothing left (every file dpkg -L listed, /etc/pasvd, the unit state)
# Reuses the release build of make test (DIST_BUILD_PATH, DIST_FLAGS); on its own it builds .build-dist.
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=(DIST_BUILD_PATH="${DIST_BUILD_PATH:-.build-dist}" DIST_FLAGS="${DIST_FLAGS:--c release --static-swift-stdlib}")
VERSION=$(make -s print-version)
W=$(mktemp -d /tmp/ftptunnel-install.XXXXXX)
CLIENT=127.0.0.1 SERVER=127.0.0.2 START_DEADLINE=20 POLL_INTERVAL=0.05
PY=/usr/bin/python3
TMUX_SOCKET=ftptunnel-install-$$
PIDS=()
started() { PIDS+=("$1"); }
cleanup() {
  tmux -L "$TMUX_SOCKET" kill-server 2>/dev/null || true
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
# shellcheck source=lib/loopback.sh
source scripts/lib/loopback.sh

step() { printf '\n-- [%ss] %s\n' "$SECONDS" "$*"; }
fail() { echo "test-install: FAILED: $*" >&2; exit 1; }
ok() { echo "ok [${SECONDS}s]: $*"; }

# ---------------------------------------------------------------------------------------------------------------
step "make install DESTDIR=$W/root (PREFIX=/usr/local)"
ROOT=$W/root
make -s install DESTDIR="$ROOT" "${DIST[@]}" >"$W/install.log" 2>&1 || { cat "$W/install.log"; fail "make install"; }
mapfile -t expected < <(make -s print-installed-files | sort)
mapfile -t present < <(cd "$ROOT" && find . -type f -o -type l | sed 's|^\.||' | sort)
for file in "${expected[@]}"; do [ -f "$ROOT$file" ] || fail "make install did not install $file"; done
[ "${expected[*]}" = "${present[*]}" ] || fail "installed files differ from the list: $(diff <(printf '%s\n' "${expected[@]}") <(printf '%s\n' "${present[@]}"))"
ok "${#expected[@]} files, exactly the installed-files list"
[ "$(stat -c %a "$ROOT/usr/local/etc/pasvd/users")" = 600 ] || fail "the users file is not mode 0600"

BIN=$ROOT/usr/local/bin/ftptunnel SBIN=$ROOT/usr/local/sbin/pasvd
# grep reads all of the help (never -q): with pipefail, a grep that stops at the first match makes the
# writer fail with EPIPE once the help is longer than one write.
[ "$("$BIN" --version)" = "$VERSION" ] || fail "ftptunnel --version is not $VERSION"
[ "$("$SBIN" --version)" = "$VERSION" ] || fail "pasvd --version is not $VERSION"
"$BIN" --help | grep "Version $VERSION" >/dev/null || fail "ftptunnel --help does not show the version"
"$SBIN" --help | grep "Version $VERSION" >/dev/null || fail "pasvd --help does not show the version"
"$SBIN" serve --help | grep -- "--inetd" >/dev/null || fail "pasvd serve --help"
ok "--version and --help: $VERSION"

for binary in "$BIN" "$SBIN"; do
  echo "ldd $(basename "$binary"):"; ldd "$binary" | sed 's/ (0x[0-9a-f]*)//; s/^/  /'
  if ldd "$binary" | grep -Ei 'swift|Foundation|dispatch|BlocksRuntime|not found'; then
    fail "$(basename "$binary") needs a Swift toolchain library (or a missing one)"
  fi
  ldd "$binary" | awk '$3 ~ /^\// { print $3 }' | while read -r lib; do
    dpkg -S "$(readlink -f "$lib")" >/dev/null 2>&1 || dpkg -S "$lib" >/dev/null 2>&1 || fail "$lib belongs to no Debian package"
  done
done
ok "ldd: system libraries only, each from a Debian package"

MAN=$ROOT/usr/local/share/man
for page in man1/ftptunnel.1 man5/ftptunnel.conf.5 man8/pasvd.8; do
  macros=an; head -5 "$MAN/$page" | grep -q '^\.Dd' && macros=doc
  warnings=$(groff -ww -z -Tutf8 -m$macros "$MAN/$page" 2>&1) || true
  [ -z "$warnings" ] || fail "groff warns about $page: $warnings"
  lint=$(mandoc -T lint -W warning "$MAN/$page" 2>&1) || true
  [ -z "$lint" ] || fail "mandoc -T lint: $lint"
  MANWIDTH=100 man -l "$MAN/$page" >"$W/page.txt" 2>"$W/page.err" || fail "man -l $page: $(cat "$W/page.err")"
  [ ! -s "$W/page.err" ] || fail "man -l $page: $(cat "$W/page.err")"
  grep -q "ftptunnel $VERSION" "$W/page.txt" || fail "$page does not show version $VERSION"
done
MANWIDTH=100 man -l "$MAN/man5/ftptunnel.conf.5" >"$W/conf5.txt"
for keyword in $(sed -n 's/^ *case [a-zA-Z]* = "\([A-Za-z]*\)".*/\1/p' Sources/Shared/TunnelCore/Profile/ProfileKeyword.swift); do
  grep -Eq "^ {7}$keyword( |$)" "$W/conf5.txt" || fail "ftptunnel.conf(5) does not document $keyword"
done
for section in "SSH CONNECTION" "FTP AND LOCAL SIDE" "PRECEDENCE"; do grep -q "^$section" "$W/conf5.txt" || fail "ftptunnel.conf(5) has no $section"; done
grep -q "Default: 128M" "$W/conf5.txt" || fail "ftptunnel.conf(5) lacks DataWindowMax's default"
ok "man pages render without warnings (groff -ww, mandoc -T lint), show $VERSION; ftptunnel.conf(5) documents every keyword"

# Completions in real interactive shells on a pty (tmux): typing `ftptunnel connect mys<TAB>` completes the
# profile name from ~/.config/ftptunnel/profiles/ (the completion calls the installed binary).
CHOME=$W/completion-home
mkdir -p "$CHOME/.config/ftptunnel/profiles"
printf 'HostName 127.0.0.1\n' >"$CHOME/.config/ftptunnel/profiles/mysite.conf"
printf 'HostName 127.0.0.1\n' >"$CHOME/.config/ftptunnel/profiles/prod.conf"
COMPLETIONS=$ROOT/usr/local/share
# One idle session keeps the tmux server up between the shells (a server exiting as the next session starts
# fails that start).
tmux -L "$TMUX_SOCKET" new-session -d -s keeper cat
pane_has() { tmux -L "$TMUX_SOCKET" capture-pane -p -t "$1" | grep -qF -- "$2"; }
complete_in() {  # shell-name command setup-line typed expected
  local name=$1 command=$2 setup=$3 typed=$4 expected=$5
  tmux -L "$TMUX_SOCKET" new-session -d -s "$name" -x 200 -y 30 \
    "env -i HOME=$CHOME TERM=xterm PATH=$ROOT/usr/local/bin:$ROOT/usr/local/sbin:/usr/bin:/bin $command"
  # The marker appears only in printf's output, not in the typed line.
  tmux -L "$TMUX_SOCKET" send-keys -t "$name" "$setup" Enter "printf 'setup-%s\\n' done" Enter
  wait_until 20 pane_has "$name" "setup-done" || fail "$name did not start: $(tmux -L "$TMUX_SOCKET" capture-pane -p -t "$name")"
  tmux -L "$TMUX_SOCKET" send-keys -t "$name" "$typed" Tab
  wait_until 20 pane_has "$name" "$expected" || fail "$name did not complete '$typed' to '$expected': $(tmux -L "$TMUX_SOCKET" capture-pane -p -t "$name")"
  tmux -L "$TMUX_SOCKET" kill-session -t "$name"
  ok "$name completes '$typed' to '$expected'"
}
complete_in bash "bash --norc --noprofile -i" \
  "source /usr/share/bash-completion/bash_completion; source $COMPLETIONS/bash-completion/completions/ftptunnel; source $COMPLETIONS/bash-completion/completions/pasvd" \
  "ftptunnel connect mys" "ftptunnel connect mysite"
complete_in bash-pasvd "bash --norc --noprofile -i" \
  "source /usr/share/bash-completion/bash_completion; source $COMPLETIONS/bash-completion/completions/pasvd" \
  "pasvd serve --pasv-p" "pasvd serve --pasv-ports"
complete_in zsh "zsh -f -i" \
  "fpath=($COMPLETIONS/zsh/site-functions \$fpath); autoload -U compinit; compinit -u -d $W/zcompdump" \
  "ftptunnel show mys" "ftptunnel show mysite"
complete_in zsh-pasvd "zsh -f -i" \
  "fpath=($COMPLETIONS/zsh/site-functions \$fpath); autoload -U compinit; compinit -u -d $W/zcompdump" \
  "pasvd serve --anonymous-a" "pasvd serve --anonymous-account"
complete_in fish "fish --no-config -i" \
  "source $COMPLETIONS/fish/vendor_completions.d/ftptunnel.fish; source $COMPLETIONS/fish/vendor_completions.d/pasvd.fish" \
  "ftptunnel check mys" "ftptunnel check mysite"
complete_in fish-pasvd "fish --no-config -i" \
  "source $COMPLETIONS/fish/vendor_completions.d/pasvd.fish" \
  "pasvd serve --idle-t" "pasvd serve --idle-timeout"

# systemd-analyze verify checks that ExecStart's binary exists: the units of this DESTDIR name /usr/local/…,
# so they are verified with those paths pointed into DESTDIR (the installed units are verified as they are in 2).
mkdir -p "$W/units"
for unit in "$ROOT"/usr/local/lib/systemd/system/* "$ROOT"/usr/local/lib/systemd/user/*; do
  sed "s|/usr/local/|$ROOT/usr/local/|g" "$unit" >"$W/units/$(basename "$unit")"
done
verify_units() {  # unit files…
  local out
  out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$@" 2>&1) || fail "systemd-analyze verify: $out"
  # Lines about units of the host that these do not reference are not ours.
  out=$(grep -E 'pasvd|ftptunnel' <<<"$out" || true)
  [ -z "$out" ] || fail "systemd-analyze verify: $out"
}
# Documentation=man:… is checked too: man looks in DESTDIR's pages.
export MANPATH=$ROOT/usr/local/share/man:
verify_units "$W/units/pasvd.service" "$W/units/pasvd.socket" "$W/units/ftptunnel@.service"
cp "$W/units/pasvd@.service" "$W/units/pasvd@1.service"
verify_units "$W/units/pasvd@1.service"
unset MANPATH
ok "systemd-analyze verify: pasvd.service, pasvd.socket, pasvd@.service, ftptunnel@.service"
echo "systemd-analyze security --offline=yes pasvd.service:"
SYSTEMD_LOG_LEVEL=err systemd-analyze security --offline=yes --no-pager "$W/units/pasvd.service" 2>&1 | tail -n 1 | sed 's/^/  /'

make -s uninstall DESTDIR="$ROOT" "${DIST[@]}" >"$W/uninstall.log" 2>&1 || { cat "$W/uninstall.log"; fail "make uninstall"; }
left=$(cd "$ROOT" && find . -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"
ok "make uninstall removed every file"

# ---------------------------------------------------------------------------------------------------------------
step "make deb"
make -s deb "${DIST[@]}" >"$W/deb.log" 2>&1 || { cat "$W/deb.log"; fail "make deb"; }
ARCH=$(dpkg --print-architecture)
CLIENT_DEB=.build/deb/ftptunnel_${VERSION}_${ARCH}.deb SERVER_DEB=.build/deb/pasvd_${VERSION}_${ARCH}.deb
for deb in "$CLIENT_DEB" "$SERVER_DEB"; do
  [ -f "$deb" ] || fail "$deb was not built"
  echo "$deb: $(du -h "$deb" | cut -f1)"; dpkg-deb -f "$deb" Depends | sed 's/^/  Depends: /'
done
dpkg-deb -f "$CLIENT_DEB" Depends | grep -q 'libssh2-1' || fail "ftptunnel does not depend on libssh2-1"
dpkg-deb -f "$CLIENT_DEB" Depends | grep -q 'libssl3' || fail "ftptunnel does not depend on libssl3"
dpkg-deb -f "$SERVER_DEB" Depends | grep -q 'libcrypt1' || fail "pasvd does not depend on libcrypt1"
if dpkg-deb -f "$SERVER_DEB" Depends | grep 'libssl' >/dev/null; then
  fail "pasvd depends on libssl3: it links libcrypto again (ldd pasvd; its targets in Package.swift)"
fi

step "apt-get install ./…deb"
export DEBIAN_FRONTEND=noninteractive
apt-get purge -y -qq ftptunnel pasvd >/dev/null 2>&1 || true  # a run that stopped half-way
srv_existed=no; [ -e /srv/ftp ] && srv_existed=yes
apt-get install -y -qq --no-install-recommends "./$CLIENT_DEB" "./$SERVER_DEB" >"$W/apt.log" 2>&1 || { cat "$W/apt.log"; fail "apt-get install"; }
dpkg -L ftptunnel pasvd >"$W/dpkg-L.txt"
echo "dpkg -L: $(wc -l <"$W/dpkg-L.txt") paths"
[ "$(/usr/bin/ftptunnel --version)" = "$VERSION" ] || fail "/usr/bin/ftptunnel --version"
[ "$(/usr/sbin/pasvd --version)" = "$VERSION" ] || fail "/usr/sbin/pasvd --version"
dpkg-query -W -f='${Conffiles}\n' pasvd | grep -q /etc/pasvd/pasvd.conf || fail "/etc/pasvd/pasvd.conf is not a conffile"
dpkg-query -W -f='${Conffiles}\n' pasvd | grep -q /etc/pasvd/users || fail "/etc/pasvd/users is not a conffile"
getent passwd ftp >/dev/null || fail "no ftp account after install"
[ -d /srv/ftp ] || fail "no /srv/ftp after install"
man -w ftptunnel.conf >/dev/null && man -w pasvd >/dev/null && man -w ftptunnel >/dev/null || fail "man pages not found by man"
verify_units /usr/lib/systemd/system/pasvd.service /usr/lib/systemd/system/pasvd.socket /usr/lib/systemd/user/ftptunnel@.service
cp /usr/lib/systemd/system/pasvd@.service "$W/units/pasvd@2.service"
verify_units "$W/units/pasvd@2.service"
ok "installed; conffiles, ftp account, /srv/ftp, man pages, units verified in place"

step "end to end from the installed files"
start_sshd
FTP_PORT=$(free_ports 1)
PASV_LO=$(free_ports 10); PASV="$PASV_LO-$((PASV_LO + 9))"
# The user's root belongs to ftp: its sessions run as the owner of their root.
mkdir -p /srv/ftp/ftptunnel-e2e/incoming
head -c 16777216 /dev/urandom >/srv/ftp/ftptunnel-e2e/sample.bin
chown -R ftp: /srv/ftp/ftptunnel-e2e
head -c 5000000 /dev/urandom >"$W/up.bin"
password=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(18))')
printf '%s\n' "$password" | /usr/sbin/pasvd passwd --users /etc/pasvd/users e2e --root /srv/ftp/ftptunnel-e2e >/dev/null
# The units' options, with this test's address and ports after them (the last of a repeated option wins), under
# the units' privilege limits: no new privileges, and the capability bounding set of pasvd.service (login workers
# chroot to an empty directory, so CAP_SYS_CHROOT is in it).
# shellcheck disable=SC1091
PASVD_OPTIONS=$(. /etc/pasvd/pasvd.conf && echo "$PASVD_OPTIONS")
# The bounding set is read from the installed unit, so the two cannot drift apart.
bounding_set() { sed -n 's/^CapabilityBoundingSet=//p' "$1" | tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g'; }
BOUNDING=$(bounding_set /usr/lib/systemd/system/pasvd.service)
[ -n "$BOUNDING" ] || fail "pasvd.service has no CapabilityBoundingSet"
# shellcheck disable=SC2086
setpriv --no-new-privs --bounding-set="-all,$BOUNDING" \
  /usr/sbin/pasvd serve $PASVD_OPTIONS --listen "$SERVER" --port "$FTP_PORT" --pasv-ports "$PASV" \
  --pasv-address 127.0.0.1 --log-file "$W/pasvd.log" & started $!
wait_until "$START_DEADLINE" listening "$SERVER" "$FTP_PORT" || fail "pasvd did not start: $(cat "$W/pasvd.log")"

THOME=$W/tunnel-home LOCAL_PORT=$(free_ports 1)
mkdir -p "$THOME/.config/ftptunnel/profiles"
cat >"$THOME/.config/ftptunnel/profiles/e2e.conf" <<EOF
HostName $CLIENT
Port $SSH_PORT
User $USER_NAME
IdentityFile $KEY
IdentitiesOnly yes
UserKnownHostsFile $KNOWN_HOSTS
StrictHostKeyChecking yes
FTPHost $SERVER
FTPPort $FTP_PORT
LocalPort $LOCAL_PORT
PassivePorts $PASV
EOF
printf 'machine %s login e2e password %s\n' "$CLIENT" "$password" >"$W/netrc"; chmod 600 "$W/netrc"
# ftptunnel connect as ftptunnel@e2e.service runs it: told to notify an abstract-namespace socket, as systemd does.
NOTIFY_NAME="@ftptunnel-install-test-$$"
"$PY" - "$NOTIFY_NAME" "$W/notify.log" <<'EOF' & started $!
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + sys.argv[1][1:])
with open(sys.argv[2], "ab", buffering=0) as log:
    log.write(b"LISTENING\n")
    while True:
        log.write(s.recv(4096) + b"\n--\n")
EOF
wait_until 10 grep -qs LISTENING "$W/notify.log" || fail "notify receiver did not start"
env HOME="$THOME" NOTIFY_SOCKET="$NOTIFY_NAME" /usr/bin/ftptunnel connect e2e >"$W/tunnel.out" 2>"$W/tunnel.err" & TUNNEL=$!; started $TUNNEL
wait_until 30 grep -q READY=1 "$W/notify.log" || fail "no READY=1 from the installed ftptunnel: $(cat "$W/tunnel.out" "$W/tunnel.err")"
grep -q "ftptunnel: ready" "$W/tunnel.out" "$W/tunnel.err" || fail "READY=1 before the ready line"
URL="ftp://$CLIENT:$LOCAL_PORT"
curl -sS --max-time 60 --netrc-file "$W/netrc" "$URL/sample.bin" -o "$W/down.bin" || fail "download through the installed tunnel: $(tail -n 20 "$W/pasvd.log" "$W/tunnel.err")"
curl -sS --max-time 60 --netrc-file "$W/netrc" -T "$W/up.bin" "$URL/incoming/up.bin" || fail "upload through the installed tunnel"
want=$(sha256sum </srv/ftp/ftptunnel-e2e/sample.bin | cut -d' ' -f1); got=$(sha256sum <"$W/down.bin" | cut -d' ' -f1)
[ "$want" = "$got" ] || fail "download differs: server $want, client $got"
want=$(sha256sum <"$W/up.bin" | cut -d' ' -f1); got=$(sha256sum </srv/ftp/ftptunnel-e2e/incoming/up.bin | cut -d' ' -f1)
[ "$want" = "$got" ] || fail "upload differs: client $want, server $got"
[ "$(stat -c %U /srv/ftp/ftptunnel-e2e/incoming/up.bin)" = ftp ] || fail "the upload is not owned by the session's account ftp"
kill -TERM "$TUNNEL"
wait_until 20 grep -q STOPPING=1 "$W/notify.log" || fail "no STOPPING=1 on SIGTERM"
wait "$TUNNEL" || fail "ftptunnel exited with $? after SIGTERM"
ok "16 MiB down and 5 MB up, sha256 equal at both ends; the upload belongs to ftp (pasvd switched accounts under no-new-privs); READY=1, STOPPING=1"

# pasvd.socket + pasvd@.service: one `pasvd serve --inetd` per connection with the socket as stdin/stdout, under
# pasvd@.service's capability bounding set; `ftptunnel run` from /usr/bin downloads through it.
SOCKET_PORT=$(free_ports 1)
# shellcheck disable=SC2086
systemd-socket-activate --listen "$SERVER:$SOCKET_PORT" --accept --inetd \
  setpriv --no-new-privs --bounding-set="-all,$(bounding_set /usr/lib/systemd/system/pasvd@.service)" \
  /usr/sbin/pasvd serve --inetd $PASVD_OPTIONS --pasv-ports "$PASV" --pasv-address 127.0.0.1 \
  2>"$W/pasvd-inetd.log" & started $!
wait_until "$START_DEADLINE" listening "$SERVER" "$SOCKET_PORT" || fail "systemd-socket-activate did not listen"
env HOME="$THOME" /usr/bin/ftptunnel run e2e --ftp-port "$SOCKET_PORT" -- \
  sh -c 'curl -sS --max-time 60 --netrc-file "$1" "$FTPTUNNEL_URL/sample.bin" -o "$2"' sh "$W/netrc" "$W/down-inetd.bin" \
  >"$W/run.log" 2>&1 || fail "ftptunnel run through the socket-activated pasvd: $(cat "$W/run.log" "$W/pasvd-inetd.log")"
want=$(sha256sum </srv/ftp/ftptunnel-e2e/sample.bin | cut -d' ' -f1); got=$(sha256sum <"$W/down-inetd.bin" | cut -d' ' -f1)
[ "$want" = "$got" ] || fail "download through the socket-activated pasvd differs: server $want, client $got"
ok "socket activation (--accept --inetd, as pasvd.socket): 16 MiB down through ftptunnel run, sha256 equal"
for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
PIDS=()

step "apt-get purge"
rm -rf /srv/ftp/ftptunnel-e2e
apt-get purge -y -qq ftptunnel pasvd >"$W/purge.log" 2>&1 || { cat "$W/purge.log"; fail "apt-get purge"; }
while read -r path; do
  [ -d "$path" ] && continue
  [ ! -e "$path" ] && [ ! -L "$path" ] || fail "$path is left after purge"
done <"$W/dpkg-L.txt"
[ ! -e /etc/pasvd ] || fail "/etc/pasvd is left after purge"
[ "$srv_existed" = yes ] || [ ! -e /srv/ftp ] || fail "/srv/ftp is left after purge"
leftovers=$(find /etc/systemd /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
  -name '*pasvd*' 2>/dev/null || true)
[ -z "$leftovers" ] || fail "unit state left after purge: $leftovers"
! dpkg -s ftptunnel >/dev/null 2>&1 && ! dpkg -s pasvd >/dev/null 2>&1 || fail "dpkg still knows the packages"
ok "purged: none of the paths dpkg -L listed, /etc/pasvd or unit state left"
echo "test-install: all checks passed"
