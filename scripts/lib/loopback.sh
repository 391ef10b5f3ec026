# Shared by `make demo` (scripts/demo.sh) and `make bench` (Benchmarks/run.sh): the loopback topology's
# fixtures in bash. The caller sets W (scratch dir), CLIENT (127.0.0.1), SERVER (127.0.0.2), START_DEADLINE,
# POLL_INTERVAL and PY (python3), and defines `started PID` to track processes for its own teardown.

# wait_until DEADLINE_SECONDS COMMAND...: polls COMMAND until it succeeds; fails at the deadline.
wait_until() {
  local deadline=$(( EPOCHSECONDS + $1 )); shift
  until "$@" >/dev/null; do
    ((EPOCHSECONDS < deadline)) || return 1
    sleep "$POLL_INTERVAL"
  done
}


hexaddr() {  # 127.0.0.1 → 0100007F (the byte order of /proc/net/tcp)
  local IFS=.; set -- $1
  printf '%02X%02X%02X%02X' "$4" "$3" "$2" "$1"
}

# listening ADDR PORT...: every PORT has a listening socket on ADDR.
listening() {
  local addr; addr=$(hexaddr "$1"); shift
  local want="" p
  for p in "$@"; do want+=$(printf ' %s:%04X' "$addr" "$p"); done
  awk -v want="$want" '
    BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) need[w[i]] = 1 }
    $4 == "0A" && ($2 in need) { delete need[$2] }
    END { for (k in need) exit 1; exit 0 }' /proc/net/tcp
}

# free_ports COUNT: prints the first of COUNT consecutive ports free on both sides of the topology.
free_ports() {
  "$PY" - "$1" "$CLIENT" "$SERVER" <<'EOF'
import random, socket, sys
count, addrs = int(sys.argv[1]), sys.argv[2:]
def free(port):
    for a in addrs:
        s = socket.socket()
        try:
            s.bind((a, port))
        except OSError:
            return False
        finally:
            s.close()
    return True
for _ in range(1000):
    base = random.randrange(20000, 32700 - count)  # below the ephemeral ports
    if all(free(p) for p in range(base, base + count)):
        print(base); sys.exit(0)
sys.exit(1)
EOF
}

start_sshd() {
  mkdir -p "$W/ssh" /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$W/ssh/host_key"
  ssh-keygen -q -t ed25519 -N '' -C ftptunnel-loopback -f "$W/ssh/id_ed25519"
  cp "$W/ssh/id_ed25519.pub" "$W/ssh/authorized_keys"
  USER_NAME=$(id -un); KEY=$W/ssh/id_ed25519; KNOWN_HOSTS=$W/ssh/known_hosts
  SSH_PORT=$(free_ports 1)
  cat >"$W/ssh/sshd_config" <<EOF
ListenAddress $CLIENT
Port $SSH_PORT
HostKey $W/ssh/host_key
AuthorizedKeysFile $W/ssh/authorized_keys
PidFile $W/ssh/sshd.pid
StrictModes no
UsePAM no
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding yes
MaxStartups 100:30:200
Subsystem sftp internal-sftp
LogLevel ERROR
EOF
  chmod 600 "$W/ssh/sshd_config"
  "$(command -v sshd || echo /usr/sbin/sshd)" -D -e -f "$W/ssh/sshd_config" 2>"$W/sshd.log" &
  SSHD_PID=$!; started "$SSHD_PID"
  wait_until "$START_DEADLINE" listening "$CLIENT" "$SSH_PORT" || { echo "sshd did not start: $(cat "$W/sshd.log")" >&2; exit 1; }
  add_known_host "$SSH_PORT"
}

add_known_host() {  # trust the host key at 127.0.0.1:PORT (sshd itself, or the delay proxy in front of it)
  echo "[$CLIENT]:$1 $(cut -d' ' -f1,2 "$W/ssh/host_key.pub")" >>"$KNOWN_HOSTS"
  chmod 600 "$KNOWN_HOSTS"
}

