#!/usr/bin/env bash
# make demo: the whole job end to end on one machine, with the recipe's topology.
#   server side (127.0.0.2): a throw-away OpenSSH sshd and pasvd serving a small sample tree
#   client side (127.0.0.1): ftptunnel, driven by profiles/demo.conf, and curl as the FTP client
# Everything runs from a temporary directory and is torn down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$(swift build -c release --show-bin-path)}
WORK=$(mktemp -d /tmp/ftptunnel-demo.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# A port that is free on the given address right now.
free_port() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$1"; }

# LO-HI: ten consecutive ports free on both 127.0.0.1 and 127.0.0.2.
free_range() {
  python3 - <<'PY'
import random, socket
def free(host, port):
    with socket.socket() as s:
        try: s.bind((host, port)); return True
        except OSError: return False
for _ in range(200):
    lo = random.randint(20000, 32700)  # below the kernel's ephemeral ports
    if all(free(h, p) for p in range(lo, lo + 10) for h in ("127.0.0.1", "127.0.0.2")):
        print(f"{lo}-{lo + 9}"); break
PY
}

# Waits (with a deadline) until HOST:PORT greets with a line starting with PREFIX.
wait_greeting() {
  python3 - "$@" <<'PY'
import socket, sys, time
host, port, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
deadline = time.time() + 20
while time.time() < deadline:
    try:
        with socket.create_connection((host, port), timeout=2) as s:
            if s.recv(64).startswith(prefix): sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(f"no {prefix.decode()} greeting from {host}:{port} within 20 s")
PY
}

say "1. Server side: sshd on 127.0.0.1 and pasvd on 127.0.0.2 (loopback only)"
mkdir -p /run/sshd "$WORK/srv/pub/docs"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -C demo -f "$WORK/id_ed25519"
cp "$WORK/id_ed25519.pub" "$WORK/authorized_keys"
SSH_PORT=$(free_port 127.0.0.1)
cat > "$WORK/sshd_config" <<CFG
ListenAddress 127.0.0.1
Port $SSH_PORT
HostKey $WORK/host_key
AuthorizedKeysFile $WORK/authorized_keys
PidFile $WORK/sshd.pid
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding yes
CFG
/usr/sbin/sshd -D -e -f "$WORK/sshd_config" 2>"$WORK/sshd.log" & PIDS+=($!)
wait_greeting 127.0.0.1 "$SSH_PORT" SSH-2.0-
echo "sshd listening on 127.0.0.1:$SSH_PORT"

echo "Hello from pasvd, carried through SSH." > "$WORK/srv/pub/hello.txt"
head -c 8388608 /dev/urandom > "$WORK/srv/pub/sample.bin"
printf 'ftptunnel demo\n' > "$WORK/srv/pub/docs/README"
FTP_PORT=$(free_port 127.0.0.2)
PASV=$(free_range)
"$BIN/pasvd" --root "$WORK/srv/pub" --listen 127.0.0.2 --port "$FTP_PORT" \
  --pasv-ports "$PASV" --pasv-address 127.0.0.1 --anonymous --log-file "$WORK/pasvd.log" & PIDS+=($!)
wait_greeting 127.0.0.2 "$FTP_PORT" 220
echo "pasvd listening on 127.0.0.2:$FTP_PORT, passive ports $PASV on 127.0.0.2"

say "2. Client side: trust the server's host key (as ssh would after you check its fingerprint)"
echo "[127.0.0.1]:$SSH_PORT $(cut -d' ' -f1,2 "$WORK/host_key.pub")" > "$WORK/known_hosts"
ssh-keygen -l -f "$WORK/host_key.pub"

say "3. ftptunnel run, with profiles/demo.conf: list, then download with curl through the tunnel"
LOCAL_PORT=$(free_port 127.0.0.1)
cat > "$WORK/client.sh" <<'CLIENT'
#!/bin/sh
set -e
echo "FTP client sees: $FTPTUNNEL_URL"
echo "--- directory listing ---"
curl -sS --max-time 30 "$FTPTUNNEL_URL/"
echo "--- hello.txt ---"
curl -sS --max-time 30 "$FTPTUNNEL_URL/hello.txt"
echo "--- sample.bin (8 MiB) ---"
curl -sS --max-time 60 "$FTPTUNNEL_URL/sample.bin" -o "$DEMO_OUT/sample.bin"
CLIENT
chmod +x "$WORK/client.sh"
mkdir -p "$WORK/out"
DEMO_OUT="$WORK/out" "$BIN/ftptunnel" run demo --profile profiles/demo.conf \
  -p "$SSH_PORT" -i "$WORK/id_ed25519" --known-hosts "$WORK/known_hosts" \
  --ftp-port "$FTP_PORT" --local-port "$LOCAL_PORT" --passive-ports "$PASV" -v \
  -- "$WORK/client.sh"

say "4. Result"
want=$(sha256sum < "$WORK/srv/pub/sample.bin" | cut -d' ' -f1)
got=$(sha256sum < "$WORK/out/sample.bin" | cut -d' ' -f1)
echo "server sha256: $want"
echo "client sha256: $got"
[ "$want" = "$got" ] || { echo "MISMATCH: the download differs from the server's file"; exit 1; }
echo "Byte-for-byte identical. pasvd's transfer log:"
grep -E "download|upload|login|connected" "$WORK/pasvd.log" | tail -n 6 || true
say "Demo complete: control and data connections crossed only the SSH session."
