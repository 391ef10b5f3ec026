#!/usr/bin/env bash
# make demo: the whole job end to end on one machine, with the recipe's topology.
#   server side (127.0.0.2): a throw-away OpenSSH sshd and pasvd serving a small sample tree
#   client side (127.0.0.1): ftptunnel, driven by profiles/demo.conf, and curl as the FTP client
# Everything runs from a temporary directory and is torn down on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$(swift build -c release --show-bin-path)}
W=$(mktemp -d /tmp/ftptunnel-demo.XXXXXX)
CLIENT=127.0.0.1 SERVER=127.0.0.2 START_DEADLINE=20 POLL_INTERVAL=0.05
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)
PIDS=()
started() { PIDS+=("$1"); }
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$W"
}
trap cleanup EXIT
# shellcheck source=lib/loopback.sh
source scripts/lib/loopback.sh

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "1. Server side: sshd on 127.0.0.1 and pasvd on 127.0.0.2 (loopback only)"
start_sshd
echo "sshd listening on $CLIENT:$SSH_PORT"

mkdir -p "$W/srv/pub/docs"
echo "Hello from pasvd, carried through SSH." > "$W/srv/pub/hello.txt"
head -c 8388608 /dev/urandom > "$W/srv/pub/sample.bin"
printf 'ftptunnel demo\n' > "$W/srv/pub/docs/README"
FTP_PORT=$(free_ports 1)
PASV_LO=$(free_ports 10); PASV="$PASV_LO-$((PASV_LO + 9))"
"$BIN/pasvd" --root "$W/srv/pub" --listen "$SERVER" --port "$FTP_PORT" \
  --pasv-ports "$PASV" --pasv-address 127.0.0.1 --anonymous --log-file "$W/pasvd.log" & started $!
wait_until "$START_DEADLINE" listening "$SERVER" "$FTP_PORT" || { echo "pasvd did not start" >&2; exit 1; }
echo "pasvd listening on $SERVER:$FTP_PORT, passive ports $PASV on $SERVER"

say "2. Client side: trust the server's host key (as ssh would after you check its fingerprint)"
ssh-keygen -l -f "$W/ssh/host_key.pub"

say "3. ftptunnel run, with profiles/demo.conf: list, then download with curl through the tunnel"
LOCAL_PORT=$(free_ports 1)
cat > "$W/client.sh" <<'CLIENT'
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
chmod +x "$W/client.sh"
mkdir -p "$W/out"
DEMO_OUT="$W/out" "$BIN/ftptunnel" run demo --profile profiles/demo.conf \
  -p "$SSH_PORT" -i "$KEY" --known-hosts "$KNOWN_HOSTS" \
  --ftp-port "$FTP_PORT" --local-port "$LOCAL_PORT" --passive-ports "$PASV" -v \
  -- "$W/client.sh"

say "4. Result"
want=$(sha256sum < "$W/srv/pub/sample.bin" | cut -d' ' -f1)
got=$(sha256sum < "$W/out/sample.bin" | cut -d' ' -f1)
echo "server sha256: $want"
echo "client sha256: $got"
[ "$want" = "$got" ] || { echo "MISMATCH: the download differs from the server's file"; exit 1; }
echo "Byte-for-byte identical. pasvd's transfer log:"
grep -E "RETR|STOR|APPE| login$" "$W/pasvd.log" | tail -n 6 || true
say "Demo complete: control and data connections crossed only the SSH session."
