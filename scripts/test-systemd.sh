#!/usr/bin/env bash
# make test's systemd phase: the installed units under a real systemd, sandboxing included. A Debian 12 container
# (debootstrap, cached in .build-systemd/root) boots systemd as its PID 1 (systemd-nspawn -b, the root read-only
# under a tmpfs overlay, so every run starts from the same clean root); both .debs are installed in it with dpkg,
# then, for real:
#   1. pasvd.service (enabled by the package) starts on the configured address, runs with its sandbox on (no new
#      privileges, the unit's capability bounding set, a seccomp filter, a read-only /usr in its own mount
#      namespace), serves a download and an upload hashed at both ends; the upload belongs to the session's account
#   2. ftptunnel@SITE.service as a user unit (loginctl enable-linger, systemctl --user -M USER@ enable --now)
#      reaches READY (Type=notify) against an sshd on loopback (the host's, as the container shares its network);
#      a download through it, hashed at both ends
#      a profile with a misspelt keyword makes ftptunnel@bad fail for good (exit 2, no restart), the journal says why
#   3. systemctl stop pasvd.service while a client sits logged in and a download cannot finish: the idle client
#      gets 421, the download is aborted after pasvd's grace period, the unit stops without SIGKILL within
#      TimeoutStopSec= (Result=success, clean exit status)
#   4. pasvd.socket (ListenStream= overridden by a drop-in, as its comment tells admins) activates one
#      pasvd@.service per connection, sandboxed as its unit says (read from a logged-in session's process): a
#      download through the same tunnel, hashed; every instance ends cleanly, the socket stops cleanly
#   5. pasvd.service with RestrictSUIDSGID=yes (which refuses openat2) fails at start and the journal says why
#   6. systemctl --user stop ftptunnel@SITE ends cleanly; journalctl shows the transfer lines of pasvd.service,
#      pasvd@.service and ftptunnel@SITE.service
# Reuses the .debs in .build/deb when they are newer than every source (make test's install phase has just made
# them), else runs make deb (DIST_BUILD_PATH, DIST_FLAGS as in scripts/test-install.sh). The container is stopped
# by its nspawn process's PID on every exit.
set -euo pipefail
cd "$(dirname "$0")/.."
DIST=(DIST_BUILD_PATH="${DIST_BUILD_PATH:-.build-dist}" DIST_FLAGS="${DIST_FLAGS:--c release --static-swift-stdlib}")
VERSION=$(make -s print-version)
ARCH=$(dpkg --print-architecture)
CACHE=${SYSTEMD_ROOT_CACHE:-$PWD/.build-systemd}
ROOT=$CACHE/root
SUITE=bookworm
# The container's packages besides the .debs' own dependencies: systemd as PID 1, logind and the user manager
# (linger), the user bus that `systemctl --user -M USER@` talks to.
BASE_PACKAGES=(systemd systemd-sysv dbus dbus-user-session libpam-systemd)
W=$(mktemp -d /tmp/ftptunnel-systemd.XXXXXX)
CLIENT=127.0.0.1 SERVER=127.0.0.2 START_DEADLINE=20 POLL_INTERVAL=0.1
PY=/usr/bin/python3
TUNNEL_USER=tunnel SITE=e2e
PIDS=()
NSPAWN=""
started() { PIDS+=("$1"); }
cleanup() {
  if [ -n "$NSPAWN" ] && kill -0 "$NSPAWN" 2>/dev/null; then
    kill -TERM "$NSPAWN" 2>/dev/null || true  # nspawn asks the container's systemd to power off
    local deadline=$((EPOCHSECONDS + 30))
    while kill -0 "$NSPAWN" 2>/dev/null && ((EPOCHSECONDS < deadline)); do sleep 0.1; done
    kill -KILL "$NSPAWN" 2>/dev/null || true
    wait "$NSPAWN" 2>/dev/null || true
  fi
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
# shellcheck source=lib/loopback.sh
source scripts/lib/loopback.sh

step() { printf '\n-- [%ss] %s\n' "$SECONDS" "$*"; }
fail() {
  echo "test-systemd: FAILED: $*" >&2
  if [ -n "${CONTAINER:-}" ]; then
    echo "-- the container's journal (last 60 lines):" >&2
    inside journalctl --no-pager -n 60 >&2 || true
  fi
  exit 1
}
ok() { echo "ok [${SECONDS}s]: $*"; }
[ "$(id -u)" -eq 0 ] || fail "runs as root (debootstrap, systemd-nspawn, nsenter): run it through make test"

# ---------------------------------------------------------------------------------------------------------------
step "the .debs"
CLIENT_DEB=.build/deb/ftptunnel_${VERSION}_${ARCH}.deb SERVER_DEB=.build/deb/pasvd_${VERSION}_${ARCH}.deb
fresh_debs() {
  local deb
  for deb in "$CLIENT_DEB" "$SERVER_DEB"; do
    [ -f "$deb" ] || return 1
    [ -z "$(find Sources packaging Makefile Package.swift scripts/make-deb.sh -newer "$deb" -print -quit)" ] || return 1
  done
}
if fresh_debs; then
  ok "reusing $CLIENT_DEB and $SERVER_DEB (newer than every source)"
else
  make -s deb "${DIST[@]}" >"$W/deb.log" 2>&1 || { cat "$W/deb.log"; fail "make deb"; }
  ok "make deb"
fi

# ---------------------------------------------------------------------------------------------------------------
step "the container's root ($ROOT)"
# The packages the .debs depend on (first alternative, without versions), so dpkg -i needs no network.
depends() { dpkg-deb -f "$1" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | grep -v '^$'; }
mapfile -t PACKAGES < <({ printf '%s\n' "${BASE_PACKAGES[@]}"; depends "$CLIENT_DEB"; depends "$SERVER_DEB"; } | sort -u)
# The layout of the root this script makes (bump it when the steps after debootstrap change).
STAMP="layout 1: $SUITE ${PACKAGES[*]}"
# The mirror apt uses for this suite (sources.list or deb822 .sources alike).
mirror() {
  apt-get indextargets --format '$(RELEASE) $(REPO_URI)' 2>/dev/null | awk -v suite="$SUITE" '$1 == suite { print $2; exit }'
}
if [ -x "$ROOT/usr/lib/systemd/systemd" ] && [ "$(cat "$CACHE/root.stamp" 2>/dev/null)" = "$STAMP" ]; then
  ok "reusing the cached root ($(du -sh "$ROOT" | cut -f1)): $STAMP"
else
  MIRROR=$(mirror)
  [ -n "$MIRROR" ] || fail "no apt source for $SUITE in /etc/apt/sources.list or /etc/apt/sources.list.d: add Debian's mirror there"
  rm -rf "$ROOT" "$ROOT.new" "$CACHE/root.stamp"
  mkdir -p "$CACHE"
  # Built beside the cache and moved into place whole: an interrupted run never leaves a root that looks valid.
  include=$(IFS=,; echo "${PACKAGES[*]}")
  debootstrap --variant=minbase --include="$include" "$SUITE" "$ROOT.new" "$MIRROR" >"$W/debootstrap.log" 2>&1 \
    || { tail -n 40 "$W/debootstrap.log"; fail "debootstrap $SUITE from $MIRROR"; }
  # Units must not start while the .debs install (the test configures pasvd first); deb-systemd-invoke asks this.
  printf '#!/bin/sh\n# The test starts services itself.\nexit 101\n' >"$ROOT.new/usr/sbin/policy-rc.d"
  chmod 0755 "$ROOT.new/usr/sbin/policy-rc.d"
  mv "$ROOT.new" "$ROOT"
  echo "$STAMP" >"$CACHE/root.stamp"
  ok "debootstrap $SUITE from $MIRROR ($(du -sh "$ROOT" | cut -f1)): ${PACKAGES[*]}"
fi

# ---------------------------------------------------------------------------------------------------------------
step "boot systemd in the container"
# systemd-nspawn refuses to work under a /run on disk.
mountpoint -q /run/systemd/nspawn || { mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn; }
mkdir -p "$W/in"
cp "$CLIENT_DEB" "$SERVER_DEB" "$W/in/"
# The root stays read-only under a tmpfs overlay (--volatile=overlay): the cache is never changed by a run. The
# container shares the host's network, so its services and the host's sshd and curl meet on loopback.
systemd-nspawn --register=no --keep-unit --quiet --console=passive --link-journal=no --volatile=overlay \
  --machine="ftptunnel-test-$$" --bind-ro="$W/in:/mnt/test" -D "$ROOT" -b >"$W/nspawn.log" 2>&1 &
NSPAWN=$!
container_pid() { pgrep -P "$NSPAWN" -x systemd; }
wait_until 30 container_pid || fail "systemd-nspawn did not start systemd: $(cat "$W/nspawn.log")"
CONTAINER=$(container_pid)
# inside COMMAND…: runs COMMAND in the container (all its namespaces), with a clean environment.
inside() { nsenter -t "$CONTAINER" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
user_systemctl() { inside systemctl --user -M "$TUNNEL_USER@" "$@"; }
system_systemctl() { inside systemctl "$@"; }
# user_journal UNIT: a user unit's lines and its manager's lines about it (journalctl --user-unit would match the
# caller's UID, root's, only).
user_journal() { inside journalctl --no-pager "_SYSTEMD_USER_UNIT=$1" + "USER_UNIT=$1"; }
booted() { inside systemctl is-system-running 2>/dev/null | grep -qx -e running -e degraded; }
wait_until 60 booted || fail "the container's systemd did not finish booting: $(inside systemctl is-system-running 2>&1)"
[ "$(inside systemctl is-system-running)" = running ] || fail "failed units at boot: $(inside systemctl --failed --no-pager)"
ok "systemd $(inside systemctl --version | head -1 | cut -d' ' -f2) is PID 1 in the container (nspawn pid $NSPAWN), system running"

step "dpkg -i both .debs"
inside dpkg -i "/mnt/test/$(basename "$CLIENT_DEB")" "/mnt/test/$(basename "$SERVER_DEB")" >"$W/dpkg.log" 2>&1 \
  || { cat "$W/dpkg.log"; fail "dpkg -i in the container"; }
[ "$(inside systemctl is-enabled pasvd.service)" = enabled ] || fail "the package did not enable pasvd.service"
inside systemctl cat pasvd.service pasvd.socket pasvd@.service >"$W/units.txt" || fail "systemd does not know the units"
inside test -f /usr/lib/systemd/user/ftptunnel@.service || fail "no ftptunnel@.service user unit"
ok "installed; pasvd.service enabled by the package"

# ---------------------------------------------------------------------------------------------------------------
step "pasvd.service: start, sandbox, download and upload"
FTP_PORT=$(free_ports 1)
PASV_LO=$(free_ports 10); PASV="$PASV_LO-$((PASV_LO + 9))"
# The test's address and ports after the package's options (the last of a repeated option wins), as an admin edits
# /etc/pasvd/pasvd.conf.
inside sed -i "s|^PASVD_OPTIONS=\"\\(.*\\)\"|PASVD_OPTIONS=\"\\1 --listen $SERVER --port $FTP_PORT --pasv-ports $PASV\"|" \
  /etc/pasvd/pasvd.conf
inside grep -q -- "--port $FTP_PORT" /etc/pasvd/pasvd.conf || fail "could not set the port in /etc/pasvd/pasvd.conf"
password=$("$PY" -c 'import secrets; print(secrets.token_urlsafe(18))')
printf '%s\n' "$password" | inside pasvd passwd --users /etc/pasvd/users e2e --root /srv/ftp/e2e >/dev/null 2>&1 \
  || fail "pasvd passwd in the container"
head -c 16777216 /dev/urandom >"$W/in/sample.bin"
head -c 5000000 /dev/urandom >"$W/up.bin"
inside install -d -o ftp -g ftp /srv/ftp/e2e /srv/ftp/e2e/incoming
inside install -o ftp -g ftp -m 0644 /mnt/test/sample.bin /srv/ftp/e2e/sample.bin
printf 'machine %s login e2e password %s\nmachine %s login e2e password %s\n' "$SERVER" "$password" "$CLIENT" "$password" >"$W/netrc"
chmod 600 "$W/netrc"
inside systemctl start pasvd.service || fail "systemctl start pasvd.service: $(inside systemctl status --no-pager pasvd.service)"
wait_until "$START_DEADLINE" listening "$SERVER" "$FTP_PORT" || fail "pasvd.service does not listen on $SERVER:$FTP_PORT"
# check_sandbox UNIT PID: the sandbox of UNIT's process PID as the kernel enforces it (not what the unit says):
# no_new_privs, a seccomp filter, the unit file's capability bounding set, its own mount namespace with /usr
# read-only and /srv/ftp writable.
check_sandbox() {
  local unit=$1 pid=$2 status want bound
  status=$(inside cat "/proc/$pid/status")
  grep -qx $'NoNewPrivs:\t1' <<<"$status" || fail "$unit runs without no_new_privs"
  grep -qx $'Seccomp:\t2' <<<"$status" || fail "$unit runs without a seccomp filter"
  want=$(inside systemctl cat "$unit" | sed -n 's/^CapabilityBoundingSet=//p' | tr 'A-Z' 'a-z' | tr ' ' '\n' | sort | paste -sd,)
  [ -n "$want" ] || fail "$unit has no CapabilityBoundingSet="
  # Decoded by the host's capsh (the container's root has none).
  bound=$(capsh --decode="$(sed -n 's/^CapBnd:\t//p' <<<"$status")" | sed 's/.*=//' | tr ',' '\n' | sort | paste -sd,)
  [ "$bound" = "$want" ] || fail "$unit's bounding set is {$bound}, its unit file says {$want}"
  [ "$(inside readlink "/proc/$pid/ns/mnt")" != "$(inside readlink /proc/1/ns/mnt)" ] || fail "$unit shares PID 1's mount namespace"
  inside nsenter -t "$pid" -m findmnt -n -o OPTIONS -T /usr | grep -q '^ro' || fail "/usr is writable for $unit (ProtectSystem=strict)"
  inside nsenter -t "$pid" -m findmnt -n -o OPTIONS -T /srv/ftp | grep -q '^rw' || fail "/srv/ftp is not writable for $unit (ReadWritePaths=)"
  SANDBOX="no_new_privs, seccomp, bounding set {$want}, read-only /usr, writable /srv/ftp"
}
MAIN=$(inside systemctl show -p MainPID --value pasvd.service)
[ "$MAIN" -gt 0 ] || fail "pasvd.service has no main process"
check_sandbox pasvd.service "$MAIN"
# IPAddressDeny=/IPAddressAllow= are BPF programs on the unit's cgroup: systemd applies them on a unified (v2)
# cgroup hierarchy only, and says nothing at its default log level when it cannot.
if [ "$(inside stat -fc %T /sys/fs/cgroup)" != cgroup2fs ]; then
  echo "note: no cgroup2 hierarchy here ($(inside stat -fc %T /sys/fs/cgroup) on /sys/fs/cgroup): IPAddressDeny= is not in effect and not checked"
fi
ok "pasvd.service listens on $SERVER:$FTP_PORT; its listener has $SANDBOX"

hash_inside() { inside sha256sum "$1" | cut -d' ' -f1; }
hash_here() { sha256sum <"$1" | cut -d' ' -f1; }
# Direct to pasvd: EPSV (curl's first choice) connects to the control connection's address, 127.0.0.2.
curl -sS --max-time 60 --netrc-file "$W/netrc" "ftp://$SERVER:$FTP_PORT/sample.bin" -o "$W/down.bin" \
  || fail "download from pasvd.service: $(inside journalctl --no-pager -u pasvd.service | tail -n 20)"
[ "$(hash_inside /srv/ftp/e2e/sample.bin)" = "$(hash_here "$W/down.bin")" ] || fail "download from pasvd.service differs"
curl -sS --max-time 60 --netrc-file "$W/netrc" -T "$W/up.bin" "ftp://$SERVER:$FTP_PORT/incoming/up.bin" \
  || fail "upload to pasvd.service: $(inside journalctl --no-pager -u pasvd.service | tail -n 20)"
[ "$(hash_inside /srv/ftp/e2e/incoming/up.bin)" = "$(hash_here "$W/up.bin")" ] || fail "upload to pasvd.service differs"
[ "$(inside stat -c %U /srv/ftp/e2e/incoming/up.bin)" = ftp ] || fail "the upload is not owned by the session's account ftp"
ok "16 MiB down and 5 MB up with curl, sha256 equal at both ends; the upload belongs to ftp"

# ---------------------------------------------------------------------------------------------------------------
step "ftptunnel@$SITE.service as a user unit"
start_sshd  # the host's sshd on loopback, logging in as $USER_NAME with a fresh key
LOCAL_PORT=$(free_ports 1)
inside useradd --create-home --shell /bin/bash "$TUNNEL_USER"
THOME=/home/$TUNNEL_USER
cp "$KEY" "$W/in/id_ed25519"
cp "$KNOWN_HOSTS" "$W/in/known_hosts"
cat >"$W/in/$SITE.conf" <<EOF
HostName $CLIENT
Port $SSH_PORT
User $USER_NAME
FTPHost $SERVER
FTPPort $FTP_PORT
LocalPort $LOCAL_PORT
EOF
# The README's preparation: the key without passphrase and the host key in known_hosts, the profile in place.
owned() { inside install -o "$TUNNEL_USER" -g "$TUNNEL_USER" "$@"; }
owned -d -m 0700 "$THOME/.ssh"
owned -m 0600 /mnt/test/id_ed25519 "$THOME/.ssh/id_ed25519"
owned -m 0644 /mnt/test/known_hosts "$THOME/.ssh/known_hosts"
owned -d -m 0755 "$THOME/.config" "$THOME/.config/ftptunnel" "$THOME/.config/ftptunnel/profiles"
owned -m 0644 "/mnt/test/$SITE.conf" "$THOME/.config/ftptunnel/profiles/$SITE.conf"
inside loginctl enable-linger "$TUNNEL_USER"
user_manager_up() { user_systemctl is-system-running 2>/dev/null | grep -qx running; }
wait_until 60 user_manager_up || fail "the user manager of $TUNNEL_USER did not start: $(user_systemctl is-system-running 2>&1)"
# Type=notify: `systemctl --user enable --now` returns once ftptunnel sent READY=1 (or the start failed).
timeout 60 nsenter -t "$CONTAINER" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  systemctl --user -M "$TUNNEL_USER@" enable --now "ftptunnel@$SITE.service" >"$W/enable.log" 2>&1 \
  || fail "systemctl --user enable --now ftptunnel@$SITE: $(cat "$W/enable.log"; user_journal "ftptunnel@$SITE.service" | tail -n 20)"
state=$(user_systemctl show -p ActiveState,SubState "ftptunnel@$SITE.service" | paste -sd' ')
[ "$state" = "ActiveState=active SubState=running" ] || fail "ftptunnel@$SITE.service after start: $state"
# journald reads the service's stderr and its notifications on separate sockets: the line may land a little later.
ready_logged() { user_journal "ftptunnel@$SITE.service" | grep "ftptunnel: ready" >/dev/null; }
wait_until 10 ready_logged || fail "ftptunnel@$SITE.service is active without its ready line in the journal"
listening "$CLIENT" "$LOCAL_PORT" || fail "ftptunnel@$SITE.service is ready but nothing listens on $CLIENT:$LOCAL_PORT"
# The user unit's sandbox as the kernel holds it: NoNewPrivileges=, and SystemCallArchitectures= as a seccomp filter.
TUNNEL_PID=$(user_systemctl show -p MainPID --value "ftptunnel@$SITE.service")
[ "$TUNNEL_PID" -gt 0 ] || fail "ftptunnel@$SITE.service has no main process"
tunnel_status=$(inside cat "/proc/$TUNNEL_PID/status")
grep -qx $'NoNewPrivs:\t1' <<<"$tunnel_status" || fail "ftptunnel@$SITE.service runs without no_new_privs"
grep -qx $'Seccomp:\t2' <<<"$tunnel_status" || fail "ftptunnel@$SITE.service runs without a seccomp filter"
[ "$(inside stat -c %U "/proc/$TUNNEL_PID")" = "$TUNNEL_USER" ] || fail "ftptunnel@$SITE.service does not run as $TUNNEL_USER"
URL="ftp://$CLIENT:$LOCAL_PORT"
curl -sS --max-time 60 --netrc-file "$W/netrc" "$URL/sample.bin" -o "$W/down-tunnel.bin" \
  || fail "download through ftptunnel@$SITE: $(user_journal "ftptunnel@$SITE.service" | tail -n 20)"
[ "$(hash_inside /srv/ftp/e2e/sample.bin)" = "$(hash_here "$W/down-tunnel.bin")" ] || fail "download through ftptunnel@$SITE differs"
ok "ftptunnel@$SITE.service active (running) after READY=1, as $TUNNEL_USER with no_new_privs and seccomp; 16 MiB down through it, sha256 equal"

# A mistake in the profile stays wrong until someone fixes it: the unit fails for good (RestartPreventExitStatus=2)
# instead of restarting every RestartSec=, and the journal says which line.
printf 'HostName %s\nFTPHots %s\n' "$CLIENT" "$SERVER" >"$W/in/bad.conf"
owned -m 0644 /mnt/test/bad.conf "$THOME/.config/ftptunnel/profiles/bad.conf"
! timeout 60 nsenter -t "$CONTAINER" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  systemctl --user -M "$TUNNEL_USER@" start ftptunnel@bad.service >/dev/null 2>&1 || fail "ftptunnel@bad started with a misspelt keyword"
state=$(user_systemctl show -p ActiveState,Result,ExecMainStatus ftptunnel@bad.service | sort | paste -sd' ')
[ "$state" = "ActiveState=failed ExecMainStatus=2 Result=exit-code" ] || fail "ftptunnel@bad after a bad profile: $state (want failed for good, exit 2)"
bad_logged() { user_journal ftptunnel@bad.service | grep "bad.conf:2: FTPHots: unknown keyword — did you mean FTPHost?" >/dev/null; }
wait_until 10 bad_logged || fail "the journal lacks the profile error: $(user_journal ftptunnel@bad.service | tail -n 5)"
user_systemctl reset-failed ftptunnel@bad.service
ok "ftptunnel@bad (misspelt keyword) failed for good with exit 2, no restart; the journal names bad.conf line 2"

# ---------------------------------------------------------------------------------------------------------------
step "systemctl stop pasvd.service with a client logged in"
# clean_stop SYSTEMCTL-FUNCTION UNIT: the stopped unit's result, main exit and journal say it ended by itself.
clean_stop() {
  local ctl=$1 unit=$2 show journal
  show=$($ctl show -p Result,ExecMainCode,ExecMainStatus,ActiveState "$unit" | sort | paste -sd' ')
  # ExecMainCode 1 is CLD_EXITED: the main process exited (not killed by a signal), with status 0.
  [ "$show" = "ActiveState=inactive ExecMainCode=1 ExecMainStatus=0 Result=success" ] || fail "$unit did not stop cleanly: $show"
  if [ "$ctl" = user_systemctl ]; then journal=$(user_journal "$unit"); else journal=$(inside journalctl --no-pager -u "$unit"); fi
  # A user manager logs "Deactivated successfully" at debug level only; both log "Stopped UNIT".
  grep -q "Stopped $unit" <<<"$journal" || fail "the journal lacks 'Stopped $unit'"
  [ "$ctl" = user_systemctl ] || grep -q "$unit: Deactivated successfully" <<<"$journal" \
    || fail "the journal lacks '$unit: Deactivated successfully'"
  ! grep -Eq "SIGKILL|timed out|Killing process|Failed with result" <<<"$journal" \
    || fail "$unit did not stop by itself: $(grep -E 'SIGKILL|timed out|Killing|Failed with result' <<<"$journal")"
}
# idle_client LOG: a client that logs in at $SERVER:$FTP_PORT and waits (its PID in IDLE_CLIENT); it writes
# "LOGIN <reply>" once logged in and "AFTER <line>" for whatever the server sends next.
idle_client() {
  "$PY" - "$SERVER" "$FTP_PORT" "$password" "$1" <<'EOF' &
import socket, sys
host, port, password, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.create_connection((host, port), timeout=60)
f = s.makefile("rb")
def reply():
    line = f.readline()
    while line[3:4] == b"-":
        line = f.readline()
    return line
reply()
s.sendall(b"USER e2e\r\n"); reply()
s.sendall(("PASS %s\r\n" % password).encode()); logged = reply()
with open(log, "ab", buffering=0) as out:
    out.write(b"LOGIN " + logged)
    out.write(b"AFTER " + reply())
EOF
  IDLE_CLIENT=$!
  started "$IDLE_CLIENT"
}
# stalled_download LOG: a client whose RETR never ends (its data socket reads nothing, with a 4 KiB receive
# buffer); it writes "STARTED <150 reply>" once the transfer runs and "AFTER <line>" for the next reply.
stalled_download() {
  "$PY" - "$SERVER" "$FTP_PORT" "$password" "$1" <<'EOF' &
import re, socket, sys
host, port, password, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = socket.create_connection((host, port), timeout=60)
f = c.makefile("rb")
def reply():
    line = f.readline()
    while line[3:4] == b"-":
        line = f.readline()
    return line
def command(text):
    c.sendall(text.encode() + b"\r\n")
    return reply()
reply(); command("USER e2e"); command("PASS " + password); command("TYPE I")
data_port = int(re.search(rb"\(\|\|\|(\d+)\|\)", command("EPSV")).group(1))
d = socket.socket()
d.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
d.connect((host, data_port))
with open(log, "ab", buffering=0) as out:
    out.write(b"STARTED " + command("RETR sample.bin"))
    out.write(b"AFTER " + reply())
d.close()
EOF
  started $!
}
# A logged-in, idle session, which pasvd answers 421 as it stops, and a download that cannot finish, which pasvd
# aborts once its grace period (10 s) is over: the stop still ends without SIGKILL, within TimeoutStopSec=.
idle_client "$W/idle.log"
wait_until 20 grep -qs '^LOGIN 230' "$W/idle.log" || fail "the idle client did not log in: $(cat "$W/idle.log" 2>/dev/null)"
stalled_download "$W/stalled.log"
wait_until 20 grep -qs '^STARTED 150' "$W/stalled.log" || fail "the stalled download did not start: $(cat "$W/stalled.log" 2>/dev/null)"
stop_start=$EPOCHREALTIME
timeout 60 nsenter -t "$CONTAINER" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin systemctl stop pasvd.service \
  || fail "systemctl stop pasvd.service failed or took a minute"
stop_seconds=$("$PY" -c "print(f'{$EPOCHREALTIME - $stop_start:.2f}')")
wait_until 20 grep -qs '^AFTER' "$W/idle.log" || fail "the idle client read nothing as pasvd stopped"
grep -q '^AFTER 421' "$W/idle.log" || fail "the idle client got '$(sed -n 's/^AFTER //p' "$W/idle.log")' instead of 421"
wait_until 20 grep -qs '^AFTER' "$W/stalled.log" || fail "the stalled download read no reply as pasvd stopped"
grep -q '^AFTER 4' "$W/stalled.log" || fail "the stalled download got '$(sed -n 's/^AFTER //p' "$W/stalled.log")' instead of a 4xx"
inside journalctl --no-pager -u pasvd.service | grep "grace period over, aborting the sessions of 1 worker" >/dev/null \
  || fail "pasvd.service stopped without aborting the stalled download: $(inside journalctl --no-pager -u pasvd.service | tail -n 8)"
clean_stop system_systemctl pasvd.service
ok "systemctl stop pasvd.service in ${stop_seconds}s: the idle client got 421, the stalled download $(sed -n 's/^AFTER \([0-9]*\).*/\1/p' "$W/stalled.log") after the grace period; Result=success, exit status 0, no SIGKILL"

# ---------------------------------------------------------------------------------------------------------------
step "pasvd.socket: one pasvd@.service per connection"
# The override pasvd.socket's comment tells admins to make (systemctl edit pasvd.socket): the same address and
# port as the service had, so the running tunnel now reaches the socket-activated sessions.
inside install -d /etc/systemd/system/pasvd.socket.d
printf '[Socket]\nListenStream=\nListenStream=%s:%s\n' "$SERVER" "$FTP_PORT" | inside tee /etc/systemd/system/pasvd.socket.d/listen.conf >/dev/null
inside systemctl daemon-reload
inside systemctl start pasvd.socket || fail "systemctl start pasvd.socket: $(inside systemctl status --no-pager pasvd.socket)"
wait_until "$START_DEADLINE" listening "$SERVER" "$FTP_PORT" || fail "pasvd.socket does not listen on $SERVER:$FTP_PORT"
# A logged-in client keeps its pasvd@ instance running while its sandbox is read.
idle_client "$W/idle-socket.log"
wait_until 20 grep -qs '^LOGIN 230' "$W/idle-socket.log" || fail "no login through pasvd.socket: $(inside journalctl --no-pager -u 'pasvd@*' | tail -n 20)"
INSTANCE=$(inside systemctl list-units --no-legend --plain --state=active 'pasvd@*' | awk '{ print $1; exit }')
[ -n "$INSTANCE" ] || fail "a client is logged in through pasvd.socket but no pasvd@ instance is active"
check_sandbox "$INSTANCE" "$(inside systemctl show -p MainPID --value "$INSTANCE")"
echo "$INSTANCE: $SANDBOX"
kill "$IDLE_CLIENT"
curl -sS --max-time 60 --netrc-file "$W/netrc" "$URL/sample.bin" -o "$W/down-socket.bin" \
  || fail "download through ftptunnel@$SITE from pasvd.socket: $(inside journalctl --no-pager -u 'pasvd@*' | tail -n 20)"
[ "$(hash_inside /srv/ftp/e2e/sample.bin)" = "$(hash_here "$W/down-socket.bin")" ] || fail "download from pasvd.socket differs"
# Each connection's instance ends with its session; a control connection that stays open keeps one running.
sessions_done() { ! inside systemctl list-units --no-legend --plain --state=active,activating,deactivating 'pasvd@*' | grep -q .; }
wait_until 20 sessions_done || fail "pasvd@ instances still running after the download: $(inside systemctl list-units --no-pager 'pasvd@*')"
instances=$(inside journalctl --no-pager -u 'pasvd@*' | grep -c 'pasvd@.*: Deactivated successfully' || true)
[ "$instances" -ge 1 ] || fail "no pasvd@ instance ended cleanly: $(inside journalctl --no-pager -u 'pasvd@*' | tail -n 20)"
! inside journalctl --no-pager -u 'pasvd@*' | grep -Eq 'Failed with result|SIGKILL|timed out' \
  || fail "a pasvd@ instance failed: $(inside journalctl --no-pager -u 'pasvd@*' | grep -E 'Failed|SIGKILL|timed out')"
inside systemctl stop pasvd.socket
socket_closed() { ! listening "$SERVER" "$FTP_PORT"; }
wait_until "$START_DEADLINE" socket_closed || fail "pasvd.socket still listens after systemctl stop"
[ "$(inside systemctl show -p Result --value pasvd.socket)" = success ] || fail "pasvd.socket: $(inside systemctl show -p Result pasvd.socket)"
ok "16 MiB down through the tunnel from socket-activated sessions, sha256 equal; $instances pasvd@ instances ended cleanly; the socket stopped"

# ---------------------------------------------------------------------------------------------------------------
step "pasvd.service with RestrictSUIDSGID=yes added: refused at start, the journal says why"
# The setting the units had: its seccomp filter fails every openat2 with ENOSYS, so every file command would answer
# 550. pasvd checks openat2 at start and stops with a sentence naming the setting.
inside install -d /etc/systemd/system/pasvd.service.d
printf '[Service]\nRestrictSUIDSGID=yes\nRestart=no\n' | inside tee /etc/systemd/system/pasvd.service.d/restrict-suid.conf >/dev/null
inside systemctl daemon-reload
inside systemctl start pasvd.service >/dev/null 2>&1 || true  # Type=exec: the start may or may not see the exit
refused() { [ "$(inside systemctl show -p Result --value pasvd.service)" = exit-code ]; }
wait_until 20 refused || fail "pasvd.service with RestrictSUIDSGID=yes: $(inside systemctl show -p ActiveState,Result pasvd.service | paste -sd' ')"
journal_says() { inside journalctl --no-pager -u pasvd.service | grep "RestrictSUIDSGID=yes (its seccomp filter refuses openat2)" >/dev/null; }
wait_until 10 journal_says || fail "the journal does not say why pasvd.service stopped: $(inside journalctl --no-pager -u pasvd.service | tail -n 5)"
inside journalctl --no-pager -u pasvd.service | grep "openat2(2) fails" | tail -n 1 | sed 's/^/  /'
inside rm /etc/systemd/system/pasvd.service.d/restrict-suid.conf
inside systemctl daemon-reload
inside systemctl reset-failed pasvd.service
ok "pasvd.service failed at start (Result=exit-code) and the journal names RestrictSUIDSGID=yes"

# ---------------------------------------------------------------------------------------------------------------
step "systemctl --user stop ftptunnel@$SITE; the journal"
timeout 60 nsenter -t "$CONTAINER" -a env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  systemctl --user -M "$TUNNEL_USER@" stop "ftptunnel@$SITE.service" || fail "systemctl --user stop ftptunnel@$SITE failed or took a minute"
clean_stop user_systemctl "ftptunnel@$SITE.service"
tunnel_closed() { ! listening "$CLIENT" "$LOCAL_PORT"; }
wait_until "$START_DEADLINE" tunnel_closed || fail "$CLIENT:$LOCAL_PORT still listens after the tunnel stopped"
# journal_has DESCRIPTION PATTERN journalctl-arguments…: the journal holds a line matching PATTERN.
journal_has() {
  local what=$1 pattern=$2; shift 2
  if [ "$1" = --user-unit ]; then user_journal "$2"; else inside journalctl --no-pager "$@"; fi >"$W/journal.txt"
  grep -E "$pattern" "$W/journal.txt" | tail -n 2 | sed 's/^/  /'
  grep -Eq "$pattern" "$W/journal.txt" || fail "journalctl $* has no $what line (/$pattern/): $(tail -n 15 "$W/journal.txt")"
}
journal_has "download" 'RETR /sample\.bin 16\.0 MiB' -u pasvd.service
journal_has "upload" 'STOR /incoming/up\.bin 4\.8 MiB' -u pasvd.service
journal_has "download" 'RETR /sample\.bin 16\.0 MiB' -u 'pasvd@*'
journal_has "transfer" 'RETR /?sample\.bin 16\.0 MiB' --user-unit "ftptunnel@$SITE.service"
ok "ftptunnel@$SITE.service stopped cleanly (Result=success, exit status 0, no SIGKILL); journalctl shows the transfer lines of pasvd.service, pasvd@.service and ftptunnel@$SITE.service"
echo "test-systemd: all checks passed"
