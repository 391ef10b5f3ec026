#!/usr/bin/env bash
# make bench: ftptunnel against what users would use instead, in the same run, on loopback.
#
# Starts a private sshd (127.0.0.1), vsftpd (127.0.0.2, pasv_address=127.0.0.1), a TCP source/sink for the
# libssh2 raw rows and, for the long-round-trip rows, a user-space delay proxy in front of sshd. Prints
# Markdown tables of medians over RUNS runs with ratios. Every transfer is checked by SHA-256; a mismatch
# marks the row FAILED. Rows whose program is missing or does not come up print `n/a (reason)`.
#
# Environment (all optional):
#   SIZE=1G          single-stream file size (numfmt IEC: 256M, 1G)
#   RUNS=3           runs per row (the table shows medians)
#   RTT_SIZE=SIZE    download size for the long-round-trip rows
#   DELAY_MS=25      one-way delay the proxy adds in each direction (round trip = 2 × DELAY_MS)
#   FAR_DELAY_MS=100 FAR_SIZE=512M   the far round-trip rows (section far): one-way delay and download size
#   PAR_COUNT=8      concurrent downloads in the parallel rows
#   PAR_SIZE=256M    size of each parallel download (SIZE/4 when SIZE < 1G)
#   IDLE_SESSIONS=200  idle logged-in sessions for the server memory rows (sections servers and idle)
#   SECTIONS="single rtt far rttup small memory parallel servers listing bridge"   which tables to run (also: window, idle)
#   RTT_UP_SIZE=256M  upload size of the long-round-trip upload rows (rttup)
#   SMALL_COUNT=200 SMALL_BYTES=4096 SMALL_RUNS=1   the small-files rows (lftp mirror at the delay proxy)
#   MEM_COUNT=32 MEM_SIZE=32M MEM_RATE=1M MEM_WINDOWS="auto 16M"   the memory rows: slow concurrent downloads
#   MEM_DELAY=1      run the memory rows through the delay proxy (DELAY_MS each way) instead of on loopback
#   RAW_WINDOWS="256K … 32M"  windows of the optional `window` section (libssh2 raw download sweep)
#   TUNNEL_MODE=rewrite  ftptunnel mode of the rtt, parallel and listing rows (single runs both)
#   BIN=.build/release   where ftptunnel, pasvd and libssh2-raw-bench are
#   BENCH_DIR=/dev/shm   scratch space (tmpfs keeps the disk out of the figures)
#   REPORT=.build/bench/last.md   a copy of the tables
#   TUNNEL_OPTS="-vv"  extra arguments for every ftptunnel started (e.g. its debug log in tunnel.err)
#   BENCH_KEEP=1     keep the scratch folder (logs of every server, tunnel and client) for a look afterwards
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
TOOLS=$HERE/tools

SIZE=${SIZE:-1G}
RUNS=${RUNS:-3}
DELAY_MS=${DELAY_MS:-25}
PAR_COUNT=${PAR_COUNT:-8}
IDLE_SESSIONS=${IDLE_SESSIONS:-200}
SECTIONS=${SECTIONS:-single rtt far rttup small memory parallel servers listing bridge}
FAR_DELAY_MS=${FAR_DELAY_MS:-100}
MEM_COUNT=${MEM_COUNT:-32}
MEM_RATE=${MEM_RATE:-1M}
MEM_WINDOWS=${MEM_WINDOWS:-auto 16M}
SMALL_COUNT=${SMALL_COUNT:-200}
SMALL_BYTES=${SMALL_BYTES:-4096}
SMALL_RUNS=${SMALL_RUNS:-1}     # each mirror takes about 4 round trips per file (40 s at 50 ms): one run by default
TUNNEL_MODE=${TUNNEL_MODE:-rewrite}
RAW_WINDOWS=${RAW_WINDOWS:-256K 1M 2M 4M 8M 16M 32M}
BIN=${BIN:-$ROOT/.build/release}
BENCH_DIR=${BENCH_DIR:-/dev/shm}
REPORT=${REPORT:-$ROOT/.build/bench/last.md}
CIPHER=aes128-ctr
MAC=hmac-sha2-256
DATA_WINDOW=${DATA_WINDOW:-16M}
# The window ftptunnel is given (`auto` by default, as users get it); the raw libssh2 rows use DATA_WINDOW.
TUNNEL_WINDOW=${TUNNEL_WINDOW:-auto}
PASSIVE_PORT_COUNT=160       # the memory rows run 32 transfers at once; vsftpd gives up a PASV (500 OOPS) after 9 random picks of busy ports, so keep the range far above the concurrency
SERVER=127.0.0.2          # the server side of the loopback topology
CLIENT=127.0.0.1          # the client side (sshd listens here too)
START_DEADLINE=20         # seconds for any server or tunnel to come up
TRANSFER_DEADLINE=600     # seconds for any single transfer (each section is bounded by its transfers' deadlines)
STALL_SECONDS=60          # a transfer moving nothing for this long fails
POLL_INTERVAL=0.01        # seconds between checks of a condition (every wait has a deadline)

PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)
SIZE_BYTES=$(numfmt --from=iec "$SIZE") || { echo "SIZE=$SIZE is not a size (e.g. 256M, 1G)" >&2; exit 2; }
RTT_SIZE_BYTES=$(numfmt --from=iec "${RTT_SIZE:-$SIZE}") || { echo "RTT_SIZE is not a size" >&2; exit 2; }
FAR_BYTES=$(numfmt --from=iec "${FAR_SIZE:-512M}") || { echo "FAR_SIZE is not a size" >&2; exit 2; }
GIB=$((1 << 30))
MEM_SIZE_BYTES=$(numfmt --from=iec "${MEM_SIZE:-32M}") || { echo "MEM_SIZE is not a size" >&2; exit 2; }
RTT_UP_BYTES=$(numfmt --from=iec "${RTT_UP_SIZE:-256M}") || { echo "RTT_UP_SIZE is not a size" >&2; exit 2; }
if [ -n "${PAR_SIZE:-}" ]; then PAR_SIZE_BYTES=$(numfmt --from=iec "$PAR_SIZE") || exit 2
elif ((SIZE_BYTES >= GIB)); then PAR_SIZE_BYTES=$((256 << 20))
else PAR_SIZE_BYTES=$((SIZE_BYTES / 4)); fi
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || { echo "RUNS=$RUNS must be a positive integer" >&2; exit 2; }

# ---------------------------------------------------------------------------------------------------------
# Processes: everything started here is recorded and torn down (with its descendants, by pid) on exit.

W=$(mktemp -d "$BENCH_DIR/ftptunnel-bench.XXXXXX") || exit 1
STARTED=()

descendants() {  # pids of every descendant of $1
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$child"; descendants "$child"
  done
}

kill_tree() {  # kill_tree PID: TERM the process and its descendants, wait for them (deadline), then KILL
  local pid=$1 pids p deadline
  kill -0 "$pid" 2>/dev/null || return 0
  pids="$pid $(descendants "$pid")"
  for p in $pids; do kill -TERM "$p" 2>/dev/null; done
  deadline=$(( ${EPOCHSECONDS} + 5 ))
  for p in $pids; do
    while kill -0 "$p" 2>/dev/null && [ "$(ps -o stat= -p "$p" 2>/dev/null)" != "Z" ] && ((EPOCHSECONDS < deadline)); do
      sleep "$POLL_INTERVAL"
    done
    kill -KILL "$p" 2>/dev/null
  done
  wait "$pid" 2>/dev/null
  return 0
}

cleanup() {
  local i
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do kill_tree "${STARTED[i]}"; done
  for i in "$W"/ssh-ctl-*; do [ -S "$i" ] && ssh -S "$i" -O exit "$CLIENT" >/dev/null 2>&1; done
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started() { STARTED+=("$1"); }

# shellcheck source=../scripts/lib/loopback.sh
source "$ROOT/scripts/lib/loopback.sh"

forget() {  # forget PID: stop tracking a process after it was stopped
  local i
  for i in "${!STARTED[@]}"; do [ "${STARTED[i]}" = "$1" ] && unset 'STARTED[i]'; done
  STARTED=("${STARTED[@]}")
}

alive() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != "Z" ]; }

# line_in FILE PATTERN: the first line of FILE matching PATTERN; fails if none.
line_in() { grep -m1 -- "$2" "$1" 2>/dev/null; }

# start_listener NAME FILE COMMAND...: starts a helper that prints `listening PORT`; sets LISTEN_PORT, LISTEN_PID.
start_listener() {
  local name=$1 out=$W/$1.out; shift
  "$@" >"$out" 2>"$W/$name.err" &
  LISTEN_PID=$!; started "$LISTEN_PID"
  if ! wait_until "$START_DEADLINE" line_in "$out" '^listening '; then
    echo "$name did not start: $(head -c 300 "$W/$name.err")" >&2; exit 1
  fi
  LISTEN_PORT=$(line_in "$out" '^listening ' | cut -d' ' -f2)
}

cpu_ticks() {  # utime+stime of a process (all threads), in clock ticks; 0 without a pid
  local stat rest
  [ -n "$1" ] || { echo 0; return; }
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  rest=${stat##*) }
  set -- $rest
  echo $(( ${12} + ${13} ))
}
CLK_TCK=$(getconf CLK_TCK)

now() { echo "$EPOCHREALTIME"; }
calc() { awk "BEGIN { printf \"%.6f\", $* }"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# ---------------------------------------------------------------------------------------------------------
# Results: samples per key; a key is FAILED or n/a with a reason, or a list of numbers.

declare -A SAMPLES STATUS
record() { SAMPLES[$1]+="$2 "; }                       # record KEY VALUE
fail() { STATUS[$1]="FAILED ($2)"; echo "  $1: FAILED ($2)" >&2; }
na() { [ -n "${STATUS[$1]:-}" ] || STATUS[$1]="n/a ($2)"; }

median() {  # median KEY → number, empty if no samples
  local values=${SAMPLES[$1]:-}
  [ -n "$values" ] || return 0
  tr ' ' '\n' <<<"$values" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END {
    if (NR % 2) printf "%.6f", v[(NR + 1) / 2]; else printf "%.6f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# cell KEY [DECIMALS]: the median formatted, or `n/a` / `FAILED` (the reason goes under the table).
cell() {
  if [ -n "${STATUS[$1]:-}" ]; then echo "${STATUS[$1]%% *}"; return; fi
  local m; m=$(median "$1")
  if [ -z "$m" ]; then echo "—"; else printf "%.${2:-0}f" "$m"; fi
}

# notes KEY...: the reasons of every n/a or FAILED cell among KEYs, one line per distinct reason.
notes() {
  local k reason; local -A rows=(); local order=()
  for k in "$@"; do
    reason=${STATUS[$k]:-}; [ -n "$reason" ] || continue
    [ -n "${rows[$reason]:-}" ] || order+=("$reason")
    rows[$reason]+="${rows[$reason]:+, }$k"
  done
  ((${#order[@]})) || return 0
  for reason in "${order[@]}"; do echo "- ${rows[$reason]}: $reason"; done
  echo
}

# ratio KEY REFKEY: median(KEY) / median(REFKEY) as `0.95×`, or — when either is missing.
ratio() {
  [ -z "${STATUS[$1]:-}" ] && [ -z "${STATUS[$2]:-}" ] || { echo "—"; return; }
  local a b; a=$(median "$1"); b=$(median "$2")
  [ -n "$a" ] && [ -n "$b" ] || { echo "—"; return; }
  awk -v a="$a" -v b="$b" 'BEGIN { if (b == 0) print "—"; else printf "%.2f×", a / b }'
}

# ---------------------------------------------------------------------------------------------------------
# Fixtures.

setup_files() {
  mkdir -p "$W/ftp/upload" "$W/out"
  chmod 755 "$W/ftp"; chmod 777 "$W/ftp/upload"
  echo "generating $SIZE test file ($SIZE_BYTES bytes) and a $PAR_SIZE_BYTES-byte parallel file" >&2
  if command -v openssl >/dev/null; then   # an AES-CTR keystream: incompressible and fast to make
    openssl enc -aes-128-ctr -pass pass:ftptunnel-bench -nosalt -pbkdf2 </dev/zero 2>/dev/null |
      head -c "$SIZE_BYTES" >"$W/ftp/data.bin"
  else
    head -c "$SIZE_BYTES" /dev/urandom >"$W/ftp/data.bin"
  fi
  [ "$(stat -c %s "$W/ftp/data.bin")" = "$SIZE_BYTES" ] || { echo "could not write the test file in $W" >&2; exit 1; }
  head -c "$PAR_SIZE_BYTES" "$W/ftp/data.bin" >"$W/ftp/par.bin"
  DATA_SHA=$(sha "$W/ftp/data.bin"); PAR_SHA=$(sha "$W/ftp/par.bin")
  RTT_FILE=$W/ftp/data.bin; RTT_SHA=$DATA_SHA
  if ((RTT_SIZE_BYTES != SIZE_BYTES)); then
    head -c "$RTT_SIZE_BYTES" "$W/ftp/data.bin" >"$W/ftp/rtt.bin"
    RTT_FILE=$W/ftp/rtt.bin; RTT_SHA=$(sha "$RTT_FILE")
  fi
  echo "data.bin sha256 $DATA_SHA" >&2
}

start_vsftpd() {
  mkdir -p "$W/vsftpd/empty"
  FTP_PORT=$(free_ports 1)
  PASV_LO=$(free_ports "$PASSIVE_PORT_COUNT"); PASV_HI=$((PASV_LO + PASSIVE_PORT_COUNT - 1))
  cat >"$W/vsftpd/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=$SERVER
listen_port=$FTP_PORT
anonymous_enable=YES
local_enable=NO
anon_root=$W/ftp
no_anon_password=YES
pasv_enable=YES
pasv_min_port=$PASV_LO
pasv_max_port=$PASV_HI
pasv_address=$CLIENT
pasv_promiscuous=NO
port_enable=NO
seccomp_sandbox=NO
background=NO
secure_chroot_dir=$W/vsftpd/empty
run_as_launching_user=YES
xferlog_enable=NO
dual_log_enable=NO
syslog_enable=NO
vsftpd_log_file=$W/vsftpd/vsftpd.log
max_clients=$((IDLE_SESSIONS + 50))
max_per_ip=$((IDLE_SESSIONS + 50))
write_enable=YES
anon_upload_enable=YES
anon_mkdir_write_enable=YES
anon_other_write_enable=YES
anon_umask=022
EOF
  chmod 600 "$W/vsftpd/vsftpd.conf"
  "$(command -v vsftpd || echo /usr/sbin/vsftpd)" "$W/vsftpd/vsftpd.conf" >"$W/vsftpd.out" 2>&1 &
  VSFTPD_PID=$!; started "$VSFTPD_PID"
  wait_until "$START_DEADLINE" listening "$SERVER" "$FTP_PORT" || { echo "vsftpd did not start: $(cat "$W/vsftpd.out")" >&2; exit 1; }
}

start_raw_endpoints() {
  start_listener source "$PY" "$TOOLS/tcp_endpoint.py" --listen "$SERVER" --send "$W/ftp/data.bin"
  SOURCE_PORT=$LISTEN_PORT
  start_listener rttsource "$PY" "$TOOLS/tcp_endpoint.py" --listen "$SERVER" --send "$RTT_FILE"
  RTT_SOURCE_PORT=$LISTEN_PORT
  start_listener sink "$PY" "$TOOLS/tcp_endpoint.py" --listen "$SERVER" --receive "$W/out/raw-upload.bin"
  SINK_PORT=$LISTEN_PORT
}

start_delay_proxy() {
  start_listener delayproxy "$PY" "$TOOLS/delay_proxy.py" --listen "$CLIENT" --target "$CLIENT:$SSH_PORT" --delay-ms "$DELAY_MS"
  DELAY_PORT=$LISTEN_PORT
  add_known_host "$DELAY_PORT"
}

# ---------------------------------------------------------------------------------------------------------
# Tunnels: start_tunnel KIND SSHPORT [OPTIONS...] sets TUN_PID and LPORT, or returns 1 with TUN_REASON.
# KIND: ssh (ssh -L for control + every passive port), fixed, rewrite (ftptunnel modes).

declare -A TUNNEL_BROKEN   # ftptunnel failures, remembered so later rows do not wait for them again

passive_forwards() {
  local p args=()
  for ((p = PASV_LO; p <= PASV_HI; p++)); do args+=(-L "$CLIENT:$p:$SERVER:$p"); done
  echo "${args[@]}"
}

ssh_base_args() {  # ssh_base_args PORT
  echo -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$KNOWN_HOSTS" \
    -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o Compression=no -i "$KEY" -p "$1" \
    -c "$CIPHER" -m "$MAC" -o ExitOnForwardFailure=yes -l "$USER_NAME"
}

start_tunnel() {
  local kind=$1 port=$2; shift 2
  TUN_REASON=""
  LPORT=$(free_ports 1)
  if [ "$kind" = ssh ]; then
    # shellcheck disable=SC2046
    ssh -N $(ssh_base_args "$port") -L "$CLIENT:$LPORT:$SERVER:$FTP_PORT" $(passive_forwards) "$CLIENT" \
      </dev/null >"$W/tunnel.out" 2>"$W/tunnel.err" &
    TUN_PID=$!; started "$TUN_PID"
    if ! wait_until "$START_DEADLINE" tunnel_listening || ! alive "$TUN_PID"; then
      TUN_REASON="ssh -L did not come up: $(head -c 200 "$W/tunnel.err")"; stop_tunnel; return 1
    fi
    return 0
  fi
  local key="$kind $TUNNEL_WINDOW $*"
  if [ -n "${TUNNEL_BROKEN[$key]:-}" ]; then TUN_REASON=${TUNNEL_BROKEN[$key]}; return 1; fi
  if [ ! -x "$BIN/ftptunnel" ]; then TUN_REASON="ftptunnel not built"; TUNNEL_BROKEN[$key]=$TUN_REASON; return 1; fi
  start_ftptunnel "$kind" "$port" "$@" || { TUNNEL_BROKEN[$key]=$TUN_REASON; return 1; }
}

tunnel_listening() {
  alive "$TUN_PID" || return 0   # stop waiting: the caller sees the dead process
  listening "$CLIENT" "$LPORT" $(seq "$PASV_LO" "$PASV_HI")
}

# start_ftptunnel MODE SSHPORT [-o K=V...]: waits (event-driven, on a FIFO) for `ready` on stderr, where ftptunnel
# prints every message; the lines are kept in tunnel.err.
start_ftptunnel() {
  local mode=$1 port=$2 line deadline remaining ready=0 eof=0 status; shift 2
  rm -f "$W/tunnel.fifo"; mkfifo "$W/tunnel.fifo"
  "$BIN/ftptunnel" connect "$CLIENT" -p "$port" -l "$USER_NAME" -i "$KEY" --known-hosts "$KNOWN_HOSTS" \
    --ftp-host "$SERVER" --ftp-port "$FTP_PORT" --local-port "$LPORT" --passive-ports "$PASV_LO-$PASV_HI" \
    --mode "$mode" -o DataWindow=$TUNNEL_WINDOW -o Ciphers=$CIPHER -o MACs=$MAC ${TUNNEL_OPTS:-} "$@" \
    </dev/null >"$W/tunnel.out" 2>"$W/tunnel.fifo" &
  TUN_PID=$!; started "$TUN_PID"
  exec 7<"$W/tunnel.fifo"
  deadline=$(calc "$(now) + $START_DEADLINE")
  while remaining=$(calc "$deadline - $(now)"); awk -v r="$remaining" 'BEGIN { exit !(r > 0) }'; do
    IFS= read -r -t "$remaining" -u 7 line; status=$?
    if ((status > 128)); then break; fi            # timed out
    if ((status != 0)); then eof=1; break; fi     # stderr closed: the process is ending
    echo "$line" >>"$W/tunnel.err"
    # "ftptunnel: ready …", or with -v "ftptunnel: 12:00:00.000 notice: ready …"
    if [[ $line =~ ^ftptunnel:\ ([0-9:.]+\ [a-z]+:\ )?ready ]]; then ready=1; break; fi
  done
  if ((ready)); then
    cat <&7 >>"$W/tunnel.err" &   # keep draining stderr
    TUN_DRAIN=$!; started "$TUN_DRAIN"
    exec 7<&-
    return 0
  fi
  exec 7<&-
  ((eof)) && wait_until 5 eval '! alive "$TUN_PID"'
  if alive "$TUN_PID" && ((eof)); then TUN_REASON="ftptunnel $mode closed stderr without printing ready"
  elif alive "$TUN_PID"; then TUN_REASON="ftptunnel $mode not ready within ${START_DEADLINE} s"
  else TUN_REASON="ftptunnel $mode exited: $(tr -s '\n ' ' ' <"$W/tunnel.err" | head -c 160 | sed 's/ *$//')"; fi
  stop_tunnel
  return 1
}

stop_tunnel() {
  kill_tree "$TUN_PID"; forget "$TUN_PID"
  if [ -n "${TUN_DRAIN:-}" ]; then kill_tree "$TUN_DRAIN"; forget "$TUN_DRAIN"; TUN_DRAIN=""; fi
}

# ---------------------------------------------------------------------------------------------------------
# Transfers. Each records MB/s (10^6 bytes/s) under KEY and client CPU-s/GiB under KEY.cpu when CPU_PID is set.

CURL=(curl -sS --fail --max-time "$TRANSFER_DEADLINE" --speed-limit 1 --speed-time "$STALL_SECONDS")

# ftp_download KEY HOST PORT FILE SHA BYTES
ftp_download() {
  local key=$1 host=$2 port=$3 file=$4 want=$5 bytes=$6 out=$W/out/dl.bin t0 t1 c0 c1 status
  c0=$(cpu_ticks "${CPU_PID:-}"); t0=$(now)
  "${CURL[@]}" -w '%{time_starttransfer} %{time_total}\n' -o "$out" "ftp://$host:$port/$file" >"$W/curl.times" 2>"$W/curl.err"; status=$?
  t1=$(now); c1=$(cpu_ticks "${CPU_PID:-}")
  if ((status != 0)); then fail "$key" "curl exit $status: $(head -c 120 "$W/curl.err")"; rm -f "$out"; return 1; fi
  if [ "$(sha "$out")" != "$want" ]; then fail "$key" "sha256 mismatch"; rm -f "$out"; return 1; fi
  rm -f "$out"
  record "$key" "$(calc "$bytes / ($t1 - $t0) / 1e6")"
  # The time split: until the first data byte (login, commands, the data connection), then the data.
  local first total; read -r first total <"$W/curl.times"
  record "$key.commands" "$first"; record "$key.data" "$(calc "$total - $first")"
  [ -n "${CPU_PID:-}" ] && record "$key.cpu" "$(calc "($c1 - $c0) / $CLK_TCK / ($bytes / $GIB)")"
  return 0
}

# ftp_upload KEY HOST PORT RUN [FILE SHA BYTES]: uploads data.bin unless another file is named.
ftp_upload() {
  local key=$1 host=$2 port=$3 name=up-$4.bin src=${5:-$W/ftp/data.bin} want=${6:-$DATA_SHA} bytes=${7:-$SIZE_BYTES} t0 t1 c0 c1 status
  c0=$(cpu_ticks "${CPU_PID:-}"); t0=$(now)
  "${CURL[@]}" -T "$src" "ftp://$host:$port/upload/$name" 2>"$W/curl.err"; status=$?
  t1=$(now); c1=$(cpu_ticks "${CPU_PID:-}")
  if ((status != 0)); then fail "$key" "curl exit $status: $(head -c 120 "$W/curl.err")"; rm -f "$W/ftp/upload/$name"; return 1; fi
  if [ "$(sha "$W/ftp/upload/$name")" != "$want" ]; then fail "$key" "sha256 mismatch"; rm -f "$W/ftp/upload/$name"; return 1; fi
  rm -f "$W/ftp/upload/$name"
  record "$key" "$(calc "$bytes / ($t1 - $t0) / 1e6")"
  [ -n "${CPU_PID:-}" ] && record "$key.cpu" "$(calc "($c1 - $c0) / $CLK_TCK / ($bytes / $GIB)")"
  return 0
}

# parallel_download KEY HOST PORT: PAR_COUNT concurrent downloads of par.bin; records aggregate MB/s.
parallel_download() {
  local key=$1 host=$2 port=$3 i t0 t1 c0 c1 pids=() failed=""
  c0=$(cpu_ticks "${CPU_PID:-}"); t0=$(now)
  for ((i = 0; i < PAR_COUNT; i++)); do
    "${CURL[@]}" -o "$W/out/par-$i.bin" "ftp://$host:$port/par.bin" 2>"$W/curl-$i.err" &
    pids+=($!)
  done
  for i in "${!pids[@]}"; do wait "${pids[i]}" || failed+="#$i curl exit $? $(head -c 80 "$W/curl-$i.err"); "; done
  t1=$(now); c1=$(cpu_ticks "${CPU_PID:-}")
  for ((i = 0; i < PAR_COUNT; i++)); do
    [ -z "$failed" ] && [ "$(sha "$W/out/par-$i.bin")" != "$PAR_SHA" ] && failed+="#$i sha256 mismatch; "
    rm -f "$W/out/par-$i.bin"
  done
  if [ -n "$failed" ]; then fail "$key" "$failed"; return 1; fi
  local total=$((PAR_COUNT * PAR_SIZE_BYTES))
  record "$key" "$(calc "$total / ($t1 - $t0) / 1e6")"
  [ -n "${CPU_PID:-}" ] && record "$key.cpu" "$(calc "($c1 - $c0) / $CLK_TCK / ($total / $GIB)")"
  return 0
}

# raw_transfer KEY SSHPORT WINDOW download|upload
raw_transfer() {
  local key=$1 port=$2 window=$3 direction=$4 target args out status u s seconds bytes want file
  if [ "$direction" = download ]; then
    if [[ $key == rtt* ]]; then target=$RTT_SOURCE_PORT; bytes=$RTT_SIZE_BYTES; want=$RTT_SHA
    else target=$SOURCE_PORT; bytes=$SIZE_BYTES; want=$DATA_SHA; fi
    file=$W/out/raw-dl.bin; args=(--download --output "$file")
  else
    target=$SINK_PORT; bytes=$SIZE_BYTES; want=$DATA_SHA; file=$W/out/raw-upload.bin
    args=(--upload "$W/ftp/data.bin")
  fi
  /usr/bin/time -f '%U %S' -o "$W/raw.time" timeout "$TRANSFER_DEADLINE" "$BIN/libssh2-raw-bench" \
    --host "$CLIENT" --port "$port" --user "$USER_NAME" --key "$KEY" --known-hosts "$KNOWN_HOSTS" \
    --target-host "$SERVER" --target-port "$target" --window "$window" --expect "$bytes" \
    --cipher "$CIPHER" --mac "$MAC" "${args[@]}" >"$W/raw.out" 2>"$W/raw.err"
  status=$?
  if ((status != 0)); then fail "$key" "exit $status: $(head -c 160 "$W/raw.err")"; rm -f "$file"; return 1; fi
  if [ "$(sha "$file")" != "$want" ]; then fail "$key" "sha256 mismatch"; rm -f "$file"; return 1; fi
  rm -f "$file"
  seconds=$(grep -o 'seconds=[0-9.]*' "$W/raw.out" | cut -d= -f2)
  read -r u s <"$W/raw.time"
  record "$key" "$(calc "$bytes / $seconds / 1e6")"
  record "$key.cpu" "$(calc "($u + $s) / ($bytes / $GIB)")"
}

# ---------------------------------------------------------------------------------------------------------
# Sections.

section_single() {
  local r
  echo "== single stream: $SIZE × $RUNS" >&2
  CPU_PID=""
  for ((r = 1; r <= RUNS; r++)); do
    ftp_download direct.dl "$SERVER" "$FTP_PORT" data.bin "$DATA_SHA" "$SIZE_BYTES"
    ftp_upload direct.ul "$SERVER" "$FTP_PORT" "direct-$r"
  done
  if start_tunnel ssh "$SSH_PORT"; then
    CPU_PID=$TUN_PID
    for ((r = 1; r <= RUNS; r++)); do
      ftp_download ssh.dl "$CLIENT" "$LPORT" data.bin "$DATA_SHA" "$SIZE_BYTES"
      ftp_upload ssh.ul "$CLIENT" "$LPORT" "ssh-$r"
    done
    stop_tunnel
  else fail ssh.dl "$TUN_REASON"; fail ssh.ul "$TUN_REASON"; fi
  for ((r = 1; r <= RUNS; r++)); do
    raw_transfer raw.dl "$SSH_PORT" "$DATA_WINDOW" download
    raw_transfer raw.ul "$SSH_PORT" "$DATA_WINDOW" upload
    raw_transfer raw2.dl "$SSH_PORT" 2M download
  done
  local mode
  for mode in fixed rewrite; do
    if start_tunnel "$mode" "$SSH_PORT"; then
      CPU_PID=$TUN_PID
      for ((r = 1; r <= RUNS; r++)); do
        ftp_download "$mode.dl" "$CLIENT" "$LPORT" data.bin "$DATA_SHA" "$SIZE_BYTES"
        ftp_upload "$mode.ul" "$CLIENT" "$LPORT" "$mode-$r"
      done
      stop_tunnel
    else na "$mode.dl" "$TUN_REASON"; na "$mode.ul" "$TUN_REASON"; fi
  done
  CPU_PID=""
}

section_rtt() {
  local r
  echo "== long round trip: ${DELAY_MS} ms each way, $(numfmt --to=iec "$RTT_SIZE_BYTES") × $RUNS" >&2
  start_delay_proxy
  if start_tunnel ssh "$DELAY_PORT"; then
    CPU_PID=$TUN_PID
    for ((r = 1; r <= RUNS; r++)); do
      ftp_download rtt.ssh "$CLIENT" "$LPORT" "$(basename "$RTT_FILE")" "$RTT_SHA" "$RTT_SIZE_BYTES"
    done
    stop_tunnel
  else fail rtt.ssh "$TUN_REASON"; fi
  for ((r = 1; r <= RUNS; r++)); do
    raw_transfer rtt.raw16 "$DELAY_PORT" "$DATA_WINDOW" download
    raw_transfer rtt.raw2 "$DELAY_PORT" 2M download
  done
  if start_tunnel "$TUNNEL_MODE" "$DELAY_PORT"; then
    CPU_PID=$TUN_PID
    for ((r = 1; r <= RUNS; r++)); do
      ftp_download rtt.ft "$CLIENT" "$LPORT" "$(basename "$RTT_FILE")" "$RTT_SHA" "$RTT_SIZE_BYTES"
    done
    record rtt.ft.rss "$(peak_rss_mib "$TUN_PID")"
    stop_tunnel
  else na rtt.ft "$TUN_REASON"; fi
  CPU_PID=""
}

# Far round trip: FAR_DELAY_MS each way (200 ms RTT by default: an intercontinental or satellite link), a
# FAR_SIZE download through ssh -L and through ftptunnel with default settings. ftptunnel runs with -v so that
# each data connection's closing line tells the largest window `DataWindow auto` granted it.
section_far() {
  local r far_port
  echo "== far round trip: ${FAR_DELAY_MS} ms each way, $(numfmt --to=iec "$FAR_BYTES") × $RUNS" >&2
  ((FAR_BYTES <= SIZE_BYTES)) || { echo "FAR_SIZE is larger than SIZE" >&2; exit 2; }
  head -c "$FAR_BYTES" "$W/ftp/data.bin" >"$W/ftp/far.bin"; local far_sha; far_sha=$(sha "$W/ftp/far.bin")
  start_listener fardelay "$PY" "$TOOLS/delay_proxy.py" --listen "$CLIENT" --target "$CLIENT:$SSH_PORT" --delay-ms "$FAR_DELAY_MS"
  far_port=$LISTEN_PORT
  add_known_host "$far_port"
  if start_tunnel ssh "$far_port"; then
    for ((r = 1; r <= RUNS; r++)); do ftp_download far.ssh "$CLIENT" "$LPORT" far.bin "$far_sha" "$FAR_BYTES"; done
    stop_tunnel
  else fail far.ssh "$TUN_REASON"; fi
  if start_tunnel "$TUNNEL_MODE" "$far_port" -v; then
    CPU_PID=$TUN_PID
    for ((r = 1; r <= RUNS; r++)); do
      ftp_download far.ft "$CLIENT" "$LPORT" far.bin "$far_sha" "$FAR_BYTES" || continue
      wait_until "$START_DEADLINE" window_lines_at_least "$r" || { fail far.window "no closing line with window= in the tunnel's log"; continue; }
      record far.window "$(grep 'connection closed' "$W/tunnel.err" | grep -o 'window=[0-9]*' | sed -n "${r}p" | awk -F= '{ printf "%.0f", $2 / 1048576 }')"
    done
    record far.ft.rss "$(peak_rss_mib "$TUN_PID")"
    stop_tunnel
  else na far.ft "$TUN_REASON"; fi
  CPU_PID=""
  kill_tree "$LISTEN_PID"; forget "$LISTEN_PID"
  rm -f "$W/ftp/far.bin"
}

# window_lines_at_least N: the tunnel's log holds N data-connection closing lines (they carry window=).
window_lines_at_least() { (($(grep 'connection closed' "$W/tunnel.err" | grep -c 'window=') >= $1)); }

# Uploads at the delay proxy's round trip: RTT_UP_SIZE through ssh -L and ftptunnel. sshd grants the
# window in this direction (OpenSSH: 2 MiB), for both clients.
section_rttup() {
  local r
  echo "== long round trip upload: ${DELAY_MS} ms each way, $(numfmt --to=iec "$RTT_UP_BYTES") × $RUNS" >&2
  [ -n "${DELAY_PORT:-}" ] || start_delay_proxy
  head -c "$RTT_UP_BYTES" "$W/ftp/data.bin" >"$W/rttup.bin"; RTT_UP_SHA=$(sha "$W/rttup.bin")
  if start_tunnel ssh "$DELAY_PORT"; then
    CPU_PID=$TUN_PID
    for ((r = 1; r <= RUNS; r++)); do ftp_upload rttup.ssh "$CLIENT" "$LPORT" "rttssh-$r" "$W/rttup.bin" "$RTT_UP_SHA" "$RTT_UP_BYTES"; done
    stop_tunnel
  else fail rttup.ssh "$TUN_REASON"; fi
  if start_tunnel "$TUNNEL_MODE" "$DELAY_PORT"; then
    CPU_PID=$TUN_PID
    for ((r = 1; r <= RUNS; r++)); do ftp_upload rttup.ft "$CLIENT" "$LPORT" "rttft-$r" "$W/rttup.bin" "$RTT_UP_SHA" "$RTT_UP_BYTES"; done
    stop_tunnel
  else na rttup.ft "$TUN_REASON"; fi
  CPU_PID=""
  rm -f "$W/rttup.bin"
}

section_parallel() {
  local r n
  echo "== parallel: $PAR_COUNT × $(numfmt --to=iec "$PAR_SIZE_BYTES") × $RUNS" >&2
  CPU_PID=""
  for ((r = 1; r <= RUNS; r++)); do parallel_download par.direct "$SERVER" "$FTP_PORT"; done
  if start_tunnel ssh "$SSH_PORT"; then
    CPU_PID=$TUN_PID
    for ((r = 1; r <= RUNS; r++)); do parallel_download par.ssh "$CLIENT" "$LPORT"; done
    stop_tunnel
  else fail par.ssh "$TUN_REASON"; fi
  for n in 1 2; do
    if start_tunnel "$TUNNEL_MODE" "$SSH_PORT" -o Sessions=$n; then
      CPU_PID=$TUN_PID
      for ((r = 1; r <= RUNS; r++)); do parallel_download "par.s$n" "$CLIENT" "$LPORT"; done
      stop_tunnel
    else na "par.s$n" "$TUN_REASON"; fi
  done
  CPU_PID=""
}

# sftp_transfer KEY PORT download|upload: OpenSSH's own sftp client (-B 32768 -R 64: 64 × 32 KiB requests in
# flight), the file a user would otherwise fetch with it; downloads RTT_FILE at the delay port, data.bin otherwise.
sftp_transfer() {
  local key=$1 port=$2 direction=$3 file=$W/ftp/data.bin want=$DATA_SHA bytes=$SIZE_BYTES target t0 t1 status
  if [ "$direction" = download ] && [ "$port" != "$SSH_PORT" ]; then file=$RTT_FILE; want=$RTT_SHA; bytes=$RTT_SIZE_BYTES; fi
  local args=(-q -B 32768 -R 64 -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$KNOWN_HOSTS"
              -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes -i "$KEY" -P "$port" -c "$CIPHER" -o MACs="$MAC")
  if [ "$direction" = download ]; then
    target=$W/out/sftp.bin
    t0=$(now); timeout "$TRANSFER_DEADLINE" sftp "${args[@]}" "$USER_NAME@$CLIENT:$file" "$target" >/dev/null 2>"$W/sftp.err"; status=$?; t1=$(now)
  else
    target=$W/ftp/upload/sftp-up.bin
    t0=$(now); echo "put $file $target" | timeout "$TRANSFER_DEADLINE" sftp "${args[@]}" -b - "$USER_NAME@$CLIENT" >/dev/null 2>"$W/sftp.err"; status=$?; t1=$(now)
  fi
  if ((status != 0)); then fail "$key" "sftp exit $status: $(head -c 120 "$W/sftp.err")"; rm -f "$target"; return 1; fi
  if [ "$(sha "$target")" != "$want" ]; then fail "$key" "sha256 mismatch"; rm -f "$target"; return 1; fi
  rm -f "$target"
  record "$key" "$(calc "$bytes / ($t1 - $t0) / 1e6")"
}

# tunnel_rows KEY MODE SSHPORT FILE SHA BYTES [OPTIONS...]: RUNS downloads (KEY.dl) and uploads (KEY.ul) through
# one ftptunnel in MODE; n/a with the reason when it does not come up.
tunnel_rows() {
  local key=$1 mode=$2 port=$3 file=$4 sha=$5 bytes=$6 r; shift 6
  if start_tunnel "$mode" "$port" "$@"; then
    CPU_PID=$TUN_PID
    for ((r = 1; r <= RUNS; r++)); do
      ftp_download "$key.dl" "$CLIENT" "$LPORT" "$file" "$sha" "$bytes"
      ftp_upload "$key.ul" "$CLIENT" "$LPORT" "$mode-$r"
    done
    stop_tunnel
  else na "$key.dl" "$TUN_REASON"; na "$key.ul" "$TUN_REASON"; fi
  CPU_PID=""
}

# The SFTP bridge (Mode sftp) against OpenSSH's sftp client and the rewrite-mode tunnel to pasvd, on loopback
# (prefix br) and through the delay proxy (prefix rttbr): download and upload each.
section_bridge() {
  local r prefix port file sha bytes saved_ftp_port
  echo "== SFTP bridge: $SIZE up, downloads $SIZE on loopback and $(numfmt --to=iec "$RTT_SIZE_BYTES") at ${DELAY_MS} ms each way, × $RUNS" >&2
  [ -n "${DELAY_PORT:-}" ] || start_delay_proxy
  start_pasvd || true
  for prefix in br rttbr; do
    if [ "$prefix" = br ]; then port=$SSH_PORT; file=data.bin; sha=$DATA_SHA; bytes=$SIZE_BYTES
    else port=$DELAY_PORT; file=$(basename "$RTT_FILE"); sha=$RTT_SHA; bytes=$RTT_SIZE_BYTES; fi
    for ((r = 1; r <= RUNS; r++)); do
      sftp_transfer "$prefix.sftp.dl" "$port" download
      sftp_transfer "$prefix.sftp.ul" "$port" upload
    done
    tunnel_rows "$prefix.ft" sftp "$port" "$file" "$sha" "$bytes" --sftp-root "$W/ftp"
    if [ -n "${PASVD_PORT:-}" ] && alive "${PASVD_PID:-0}"; then
      saved_ftp_port=$FTP_PORT; FTP_PORT=$PASVD_PORT
      tunnel_rows "$prefix.rw" rewrite "$port" "$file" "$sha" "$bytes"
      FTP_PORT=$saved_ftp_port
    else na "$prefix.rw.dl" "${PASVD_REASON:-pasvd not running}"; na "$prefix.rw.ul" "${PASVD_REASON:-pasvd not running}"; fi
  done
  if [ -n "${PASVD_PID:-}" ]; then kill_tree "$PASVD_PID"; forget "$PASVD_PID"; PASVD_PID=""; PASVD_PORT=""; fi
}

# Optional: libssh2 raw downloads at each window of RAW_WINDOWS, on loopback and through the delay proxy, and
# ftptunnel (rewrite) with `DataWindow auto` on both for comparison.
section_window() {
  local r w port file sha bytes key
  echo "== window sweep: ${RAW_WINDOWS} auto × $RUNS" >&2
  [ -n "${DELAY_PORT:-}" ] || start_delay_proxy
  for ((r = 1; r <= RUNS; r++)); do
    for w in $RAW_WINDOWS; do
      raw_transfer "win.$w" "$SSH_PORT" "$w" download
      raw_transfer "rttwin.$w" "$DELAY_PORT" "$w" download
    done
  done
  for key in win.auto rttwin.auto; do
    if [ "$key" = win.auto ]; then port=$SSH_PORT; file=data.bin; sha=$DATA_SHA; bytes=$SIZE_BYTES
    else port=$DELAY_PORT; file=$(basename "$RTT_FILE"); sha=$RTT_SHA; bytes=$RTT_SIZE_BYTES; fi
    if TUNNEL_WINDOW=auto start_tunnel rewrite "$port"; then
      CPU_PID=$TUN_PID
      for ((r = 1; r <= RUNS; r++)); do ftp_download "$key" "$CLIENT" "$LPORT" "$file" "$sha" "$bytes"; done
      stop_tunnel
    else na "$key" "$TUN_REASON"; fi
  done
  CPU_PID=""
}

# peak_rss_mib PID: the process's peak resident set (VmHWM) in MiB.
peak_rss_mib() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }

# Memory: MEM_COUNT concurrent downloads of a MEM_SIZE file by clients reading at MEM_RATE (curl
# --limit-rate), through one ftptunnel per window setting; records the tunnel's peak RSS (VmHWM) and the
# aggregate rate. The file is larger than any window so that a window the slow clients do not drain shows.
section_memory() {
  local w key i t0 t1 pids failed
  echo "== memory: $MEM_COUNT × $(numfmt --to=iec "$MEM_SIZE_BYTES") at $MEM_RATE/s each, DataWindow $MEM_WINDOWS" >&2
  local mem_port=$SSH_PORT
  if [ -n "${MEM_DELAY:-}" ]; then [ -n "${DELAY_PORT:-}" ] || start_delay_proxy; mem_port=$DELAY_PORT; fi
  head -c "$MEM_SIZE_BYTES" "$W/ftp/data.bin" >"$W/ftp/mem.bin"; MEM_SHA=$(sha "$W/ftp/mem.bin")
  for w in $MEM_WINDOWS; do
    key=mem.$w
    if ! TUNNEL_WINDOW=$w start_tunnel "$TUNNEL_MODE" "$mem_port" ${MEM_TUNNEL_OPTS:-}; then na "$key" "$TUN_REASON"; na "$key.rate" "$TUN_REASON"; continue; fi
    pids=(); failed=""
    t0=$(now)
    for ((i = 0; i < MEM_COUNT; i++)); do
      "${CURL[@]}" ${MEM_CURL_OPTS:-} --limit-rate "$MEM_RATE" -o "$W/out/mem-$i.bin" "ftp://$CLIENT:$LPORT/mem.bin" 2>"$W/curl-$i.err" &
      pids+=($!)
    done
    for i in "${!pids[@]}"; do wait "${pids[i]}" || failed+="#$i curl exit $? $(head -c 80 "$W/curl-$i.err"); "; done
    t1=$(now)
    for ((i = 0; i < MEM_COUNT; i++)); do
      [ -z "$failed" ] && [ "$(sha "$W/out/mem-$i.bin")" != "$MEM_SHA" ] && failed+="#$i sha256 mismatch; "
      rm -f "$W/out/mem-$i.bin"
    done
    if [ -n "$failed" ]; then
      fail "$key" "$failed tunnel: $(grep -m3 -i 'error\|warning' "$W/tunnel.err" | tr -s '\n' ' ' | head -c 300)"; STATUS[$key.rate]=${STATUS[$key]}
    else
      record "$key" "$(peak_rss_mib "$TUN_PID")"
      record "$key.rate" "$(calc "$MEM_COUNT * $MEM_SIZE_BYTES / ($t1 - $t0) / 1e6")"
    fi
    stop_tunnel
  done
  rm -f "$W/ftp/mem.bin"
}

# lftp_mirror KEY PORT: `lftp mirror` (one connection, one file at a time) of small/ into a fresh folder;
# records seconds. Every file is compared by SHA-256 with the server's.
lftp_mirror() {
  local key=$1 port=$2 out=$W/out/small t0 t1 status
  rm -rf "$out"
  t0=$(now)
  timeout "$TRANSFER_DEADLINE" lftp -c "set cmd:fail-exit yes; set net:max-retries 1; set net:timeout 30; set ftp:ssl-allow no; set ftp:passive-mode on; open -u anonymous, ftp://$CLIENT:$port; mirror --parallel=1 small $out" \
    </dev/null >"$W/lftp.out" 2>&1; status=$?
  t1=$(now)
  if ((status != 0)); then fail "$key" "lftp exit $status: $(tr -s '\n' ' ' <"$W/lftp.out" | head -c 120)"; return 1; fi
  if [ "$(cd "$out" && sha256sum -- * | sha256sum)" != "$SMALL_SHA" ]; then fail "$key" "files differ"; return 1; fi
  rm -rf "$out"
  record "$key" "$(calc "$t1 - $t0")"
}

# Many small files at the delay proxy's round trip: SMALL_COUNT files of SMALL_BYTES each, mirrored by lftp
# through ssh -L (every passive port forwarded) and through ftptunnel with and without the early data channel.
section_small() {
  local r i
  echo "== small files: $SMALL_COUNT × $SMALL_BYTES bytes, lftp mirror, ${DELAY_MS} ms each way × $SMALL_RUNS" >&2
  [ -n "${DELAY_PORT:-}" ] || start_delay_proxy
  mkdir -p "$W/ftp/small"
  head -c $((SMALL_COUNT * SMALL_BYTES)) "$W/ftp/data.bin" | split -b "$SMALL_BYTES" -a 4 -d - "$W/ftp/small/f"
  SMALL_SHA=$(cd "$W/ftp/small" && sha256sum -- * | sha256sum)
  if start_tunnel ssh "$DELAY_PORT"; then
    for ((r = 1; r <= SMALL_RUNS; r++)); do lftp_mirror small.ssh "$LPORT"; done
    stop_tunnel
  else fail small.ssh "$TUN_REASON"; fi
  local early
  for early in yes no; do
    if start_tunnel "$TUNNEL_MODE" "$DELAY_PORT" -o EarlyDataChannel=$early; then
      for ((r = 1; r <= SMALL_RUNS; r++)); do lftp_mirror "small.ft.$early" "$LPORT"; done
      stop_tunnel
    else na "small.ft.$early" "$TUN_REASON"; fi
  done
  rm -rf "$W/ftp/small"
}

# tree_memory PID: "RSS_KiB PSS_KiB" summed over the process and its descendants.
tree_memory() {
  local p rss=0 pss=0 v
  for p in "$1" $(descendants "$1"); do
    v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null); rss=$((rss + ${v:-0}))
    v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null); pss=$((pss + ${v:-0}))
  done
  echo "$rss $pss"
}

# login_workers_gone PID: no process of PID's tree is a pasvd login worker (they exit after the hand-off).
login_workers_gone() {
  local p
  for p in $(descendants "$1"); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- '--hand-off-fd' && return 1
  done
  return 0
}

# idle_memory KEY PORT SERVER_PID: holds IDLE_SESSIONS logged-in sessions, records RSS and PSS in MiB (and the
# number of processes in KEY.procs) once the login workers are gone.
idle_memory() {
  local key=$1 port=$2 pid=$3 holder rss pss
  rm -f "$W/idle.fifo"; mkfifo "$W/idle.fifo"
  "$PY" "$TOOLS/idle_sessions.py" --host "$SERVER" --port "$port" --count "$IDLE_SESSIONS" \
    <"$W/idle.fifo" >"$W/idle.out" 2>&1 &
  holder=$!; started "$holder"
  exec 8>"$W/idle.fifo"   # the holder keeps its sessions until this closes
  if wait_until 120 line_in "$W/idle.out" '^\(ready\|failed\)' && line_in "$W/idle.out" '^ready' >/dev/null &&
     wait_until 30 login_workers_gone "$pid"; then
    read -r rss pss <<<"$(tree_memory "$pid")"
    record "$key.rss" "$(calc "$rss / 1024")"; record "$key.pss" "$(calc "$pss / 1024")"
    record "$key.procs" "$(($(descendants "$pid" | wc -w) + 1))"
  else
    fail "$key.rss" "$(head -c 120 "$W/idle.out")"; STATUS[$key.pss]=${STATUS[$key.rss]}
  fi
  exec 8>&-
  wait_until 30 eval '! alive '"$holder" || kill_tree "$holder"
  forget "$holder"
}

start_pasvd() {  # start_pasvd [EXTRA_OPTION…]: sets PASVD_PORT and PASVD_PID, or returns 1 with PASVD_REASON
  PASVD_REASON=""
  [ -x "$BIN/pasvd" ] || { PASVD_REASON="pasvd not built"; return 1; }
  PASVD_PORT=$(free_ports 1)
  local lo; lo=$(free_ports "$PASSIVE_PORT_COUNT")
  "$BIN/pasvd" --root "$W/ftp" --listen "$SERVER" --port "$PASVD_PORT" \
    --pasv-ports "$lo-$((lo + PASSIVE_PORT_COUNT - 1))" --anonymous --writable --anonymous-account "$(id -un)" --max-sessions $((IDLE_SESSIONS + 50)) "$@" \
    </dev/null >"$W/pasvd.out" 2>&1 &
  PASVD_PID=$!; started "$PASVD_PID"
  if ! wait_until "$START_DEADLINE" eval 'listening "$SERVER" "$PASVD_PORT" || ! alive "$PASVD_PID"' ||
     ! listening "$SERVER" "$PASVD_PORT"; then
    PASVD_REASON="pasvd did not come up: $(tr -s '\n ' ' ' <"$W/pasvd.out" | head -c 160 | sed 's/ *$//')"
    kill_tree "$PASVD_PID"; forget "$PASVD_PID"; return 1
  fi
}

section_servers() {
  local r
  echo "== servers: pasvd vs vsftpd, $SIZE × $RUNS, $IDLE_SESSIONS idle sessions" >&2
  CPU_PID=""
  # vsftpd's transfer figures are the `direct` rows of the single-stream table when it ran.
  if [ -z "${SAMPLES[direct.dl]:-}${STATUS[direct.dl]:-}" ]; then
    for ((r = 1; r <= RUNS; r++)); do
      ftp_download direct.dl "$SERVER" "$FTP_PORT" data.bin "$DATA_SHA" "$SIZE_BYTES"
      ftp_upload direct.ul "$SERVER" "$FTP_PORT" "direct-$r"
    done
  fi
  idle_memory vsftpd "$FTP_PORT" "$VSFTPD_PID"
  if start_pasvd; then
    for ((r = 1; r <= RUNS; r++)); do
      ftp_download pasvd.dl "$SERVER" "$PASVD_PORT" data.bin "$DATA_SHA" "$SIZE_BYTES"
      ftp_upload pasvd.ul "$SERVER" "$PASVD_PORT" "pasvd-$r"
    done
    idle_memory pasvd "$PASVD_PORT" "$PASVD_PID"
    kill_tree "$PASVD_PID"; forget "$PASVD_PID"
  else
    local k; for k in pasvd.dl pasvd.ul pasvd.rss pasvd.pss; do na "$k" "$PASVD_REASON"; done
  fi
}

# The pasvd-memory target: IDLE_SESSIONS idle logged-in sessions (of one account) under 64 MiB PSS in total, with
# sessions sharing account worker processes (the default --sessions-per-process) and, for comparison, with a
# process per session (--sessions-per-process 1).
MEMORY_TARGET_MIB=64
section_idle() {
  local r n
  echo "== pasvd-memory: $IDLE_SESSIONS idle sessions × $RUNS, default --sessions-per-process and 1" >&2
  for ((r = 1; r <= RUNS; r++)); do
    for n in shared 1; do
      if [ "$n" = shared ]; then start_pasvd; else start_pasvd --sessions-per-process 1; fi || {
        local k; for k in "idle.$n.rss" "idle.$n.pss" "idle.$n.procs"; do na "$k" "$PASVD_REASON"; done; continue; }
      idle_memory "idle.$n" "$PASVD_PORT" "$PASVD_PID"
      kill_tree "$PASVD_PID"; forget "$PASVD_PID"
    done
  done
}

# list_ok FILE: the listing shows the test file.
list_ok() { grep -q 'data\.bin' "$1"; }

section_listing() {
  local r t0 t1 ctl status
  echo "== time to first listing × $RUNS" >&2
  for ((r = 1; r <= RUNS; r++)); do
    # ssh -L + curl: ssh -f returns once every forward is bound (ExitOnForwardFailure), then curl lists.
    LPORT=$(free_ports 1); ctl=$W/ssh-ctl-$r
    t0=$(now)
    # shellcheck disable=SC2046
    timeout "$START_DEADLINE" ssh -f -N -M -S "$ctl" $(ssh_base_args "$SSH_PORT") \
      -L "$CLIENT:$LPORT:$SERVER:$FTP_PORT" $(passive_forwards) "$CLIENT" </dev/null >/dev/null 2>"$W/ssh-f.err" &&
      "${CURL[@]}" "ftp://$CLIENT:$LPORT/" >"$W/list.out" 2>"$W/curl.err"
    status=$?; t1=$(now)
    if ((status == 0)) && list_ok "$W/list.out"; then record list.ssh "$(calc "($t1 - $t0) * 1000")"
    else fail list.ssh "exit $status: $(cat "$W/ssh-f.err" "$W/curl.err" | head -c 160)"; fi
    ssh -S "$ctl" -O exit "$CLIENT" >/dev/null 2>&1
    wait_until "$START_DEADLINE" eval '[ ! -S "$ctl" ]' || echo "  warning: ssh master $ctl still running" >&2
    # ftptunnel: command start → `ready` → curl lists.
    LPORT=$(free_ports 1)
    t0=$(now)
    if start_tunnel_at_lport "$TUNNEL_MODE"; then
      "${CURL[@]}" "ftp://$CLIENT:$LPORT/" >"$W/list.out" 2>"$W/curl.err"; status=$?; t1=$(now)
      if ((status == 0)) && list_ok "$W/list.out"; then record list.ft "$(calc "($t1 - $t0) * 1000")"
      else fail list.ft "curl exit $status: $(head -c 120 "$W/curl.err")"; fi
      stop_tunnel
    else na list.ft "$TUN_REASON"; fi
  done
}

# start_tunnel_at_lport MODE: like start_tunnel, but keeps the LPORT the caller chose (its clock is running).
start_tunnel_at_lport() {
  local key="$1 "
  TUN_REASON=""
  if [ -n "${TUNNEL_BROKEN[$key]:-}" ]; then TUN_REASON=${TUNNEL_BROKEN[$key]}; return 1; fi
  if [ ! -x "$BIN/ftptunnel" ]; then TUN_REASON="ftptunnel not built"; return 1; fi
  start_ftptunnel "$1" "$SSH_PORT" || { TUNNEL_BROKEN[$key]=$TUN_REASON; return 1; }
}

# ---------------------------------------------------------------------------------------------------------
# Report.

print_report() {
  local cores; cores=$(nproc)
  echo "### ftptunnel benchmarks — $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Machine: $cores cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, loopback;"
  echo "OpenSSH $(ssh -V 2>&1 | cut -d' ' -f1 | cut -d_ -f2), libssh2 $(dpkg-query -W -f='${Version}' libssh2-1 2>/dev/null), $(curl --version | head -1 | cut -d' ' -f1,2), vsftpd $(dpkg-query -W -f='${Version}' vsftpd 2>/dev/null)."
  echo "Load average (1 min) at start $LOAD_START, at end $(cut -d' ' -f1 /proc/loadavg): other work on these cores shows up as noise."
  echo "Cipher $CIPHER + $MAC everywhere. Medians of $RUNS run(s). MB/s = 10^6 bytes/s. CPU = client process user+system seconds per GiB."
  echo
  if [[ " $SECTIONS " == *" single "* ]]; then
    echo "#### Single stream on loopback ($SIZE file)"
    echo
    echo "| Row | Download MB/s | Upload MB/s | Client CPU-s/GiB down / up | Download vs ssh -L | Download vs libssh2 raw | Upload vs ssh -L |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    echo "| direct (curl ↔ vsftpd, no tunnel) | $(cell direct.dl) | $(cell direct.ul) | — | $(ratio direct.dl ssh.dl) | $(ratio direct.dl raw.dl) | $(ratio direct.ul ssh.ul) |"
    echo "| ssh -L (control + passive ports) | $(cell ssh.dl) | $(cell ssh.ul) | $(cell ssh.dl.cpu 2) / $(cell ssh.ul.cpu 2) | 1.00× | $(ratio ssh.dl raw.dl) | 1.00× |"
    echo "| libssh2 raw (direct-tcpip, window $DATA_WINDOW) | $(cell raw.dl) | $(cell raw.ul) | $(cell raw.dl.cpu 2) / $(cell raw.ul.cpu 2) | $(ratio raw.dl ssh.dl) | 1.00× | $(ratio raw.ul ssh.ul) |"
    echo "| libssh2 raw, window 2 MiB (ssh -L's) | $(cell raw2.dl) | — | $(cell raw2.dl.cpu 2) / — | $(ratio raw2.dl ssh.dl) | $(ratio raw2.dl raw.dl) | — |"
    local mode
    for mode in fixed rewrite; do
      echo "| ftptunnel $mode | $(cell $mode.dl) | $(cell $mode.ul) | $(cell $mode.dl.cpu 2) / $(cell $mode.ul.cpu 2) | $(ratio $mode.dl ssh.dl) | $(ratio $mode.dl raw.dl) | $(ratio $mode.ul ssh.ul) |"
    done
    echo
    notes direct.dl direct.ul ssh.dl ssh.ul raw.dl raw.ul raw2.dl fixed.dl fixed.ul rewrite.dl rewrite.ul
    echo "CPU-s/GiB vs libssh2 raw: ftptunnel fixed $(ratio fixed.dl.cpu raw.dl.cpu), rewrite $(ratio rewrite.dl.cpu raw.dl.cpu); ssh -L $(ratio ssh.dl.cpu raw.dl.cpu)."
    echo
  fi
  if [[ " $SECTIONS " == *" rtt "* ]]; then
    echo "#### Long round trip: delay proxy, $DELAY_MS ms each way ($((2 * DELAY_MS)) ms RTT), $(numfmt --to=iec "$RTT_SIZE_BYTES") download"
    echo
    echo "| Row | Download MB/s | Client CPU-s/GiB | vs ssh -L |"
    echo "|---|---:|---:|---:|"
    echo "| ssh -L | $(cell rtt.ssh 1) | $(cell rtt.ssh.cpu 2) | 1.00× |"
    echo "| libssh2 raw, window 16 MiB | $(cell rtt.raw16 1) | $(cell rtt.raw16.cpu 2) | $(ratio rtt.raw16 rtt.ssh) |"
    echo "| libssh2 raw, window 2 MiB | $(cell rtt.raw2 1) | $(cell rtt.raw2.cpu 2) | $(ratio rtt.raw2 rtt.ssh) |"
    echo "| ftptunnel $TUNNEL_MODE, DataWindow $TUNNEL_WINDOW | $(cell rtt.ft 1) | $(cell rtt.ft.cpu 2) | $(ratio rtt.ft rtt.ssh) |"
    echo
    notes rtt.ssh rtt.raw16 rtt.raw2 rtt.ft
    echo "ftptunnel's peak RSS over its $RUNS downloads: $(cell rtt.ft.rss 1) MiB; the time until the first byte (login, commands, data connection): ssh -L $(cell rtt.ssh.commands 2) s, ftptunnel $(cell rtt.ft.commands 2) s."
    echo
  fi
  if [[ " $SECTIONS " == *" far "* ]]; then
    echo "#### Far round trip: delay proxy, $FAR_DELAY_MS ms each way ($((2 * FAR_DELAY_MS)) ms RTT), $(numfmt --to=iec "$FAR_BYTES") download, default settings"
    echo
    echo "| Row | Download MB/s | Until first byte s | Data s | Client CPU-s/GiB | Window reached MiB | Peak RSS MiB | vs ssh -L |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    echo "| ssh -L | $(cell far.ssh 1) | $(cell far.ssh.commands 2) | $(cell far.ssh.data 2) | — | 2 (sshd's) | — | 1.00× |"
    echo "| ftptunnel $TUNNEL_MODE, DataWindow $TUNNEL_WINDOW | $(cell far.ft 1) | $(cell far.ft.commands 2) | $(cell far.ft.data 2) | $(cell far.ft.cpu 2) | $(cell far.window) | $(cell far.ft.rss 1) | $(ratio far.ft far.ssh) |"
    echo
    notes far.ssh far.ft far.window
    echo "Until first byte: curl's time_starttransfer (connect, login, the FTP commands, the data connection). Data: the rest."
    echo
  fi
  if [[ " $SECTIONS " == *" rttup "* ]]; then
    echo "#### Long round trip upload: $((2 * DELAY_MS)) ms RTT, $(numfmt --to=iec "$RTT_UP_BYTES") upload"
    echo
    echo "| Row | Upload MB/s | Client CPU-s/GiB | vs ssh -L |"
    echo "|---|---:|---:|---:|"
    echo "| ssh -L | $(cell rttup.ssh 1) | $(cell rttup.ssh.cpu 2) | 1.00× |"
    echo "| ftptunnel $TUNNEL_MODE | $(cell rttup.ft 1) | $(cell rttup.ft.cpu 2) | $(ratio rttup.ft rttup.ssh) |"
    echo
    notes rttup.ssh rttup.ft
    echo "Both are bounded by the window sshd grants its channels (OpenSSH: 2 MiB per round trip = $(calc "2 * 1048576 / ($((2 * DELAY_MS)) / 1000) / 1e6" | cut -d. -f1) MB/s at this round trip)."
    echo
  fi
  if [[ " $SECTIONS " == *" small "* ]]; then
    echo "#### Many small files: lftp mirror of $SMALL_COUNT × $SMALL_BYTES bytes, $((2 * DELAY_MS)) ms RTT (median of $SMALL_RUNS)"
    echo
    echo "| Row | Seconds | vs ssh -L |"
    echo "|---|---:|---:|"
    echo "| ssh -L (control + every passive port) | $(cell small.ssh 2) | 1.00× |"
    echo "| ftptunnel $TUNNEL_MODE, EarlyDataChannel yes | $(cell small.ft.yes 2) | $(ratio small.ft.yes small.ssh) |"
    echo "| ftptunnel $TUNNEL_MODE, EarlyDataChannel no | $(cell small.ft.no 2) | $(ratio small.ft.no small.ssh) |"
    echo
    notes small.ssh small.ft.yes small.ft.no
  fi
  if [[ " $SECTIONS " == *" memory "* ]]; then
    echo "#### Memory: $MEM_COUNT concurrent $(numfmt --to=iec "$MEM_SIZE_BYTES") downloads at $MEM_RATE/s each (curl --limit-rate), one tunnel$([ -n "${MEM_DELAY:-}" ] && echo ", through the delay proxy ($((2 * DELAY_MS)) ms RTT)")"
    echo
    echo "| DataWindow | Tunnel peak RSS MiB (VmHWM) | Aggregate MB/s |"
    echo "|---|---:|---:|"
    local mw
    for mw in $MEM_WINDOWS; do echo "| $mw | $(cell "mem.$mw" 1) | $(cell "mem.$mw.rate" 1) |"; done
    echo
    notes $(for mw in $MEM_WINDOWS; do echo "mem.$mw mem.$mw.rate"; done)
  fi
  if [[ " $SECTIONS " == *" parallel "* ]]; then
    echo "#### Parallel: $PAR_COUNT concurrent $(numfmt --to=iec "$PAR_SIZE_BYTES") downloads, aggregate"
    echo
    echo "| Row | Aggregate MB/s | Client CPU-s/GiB | vs ssh -L |"
    echo "|---|---:|---:|---:|"
    echo "| direct (no tunnel) | $(cell par.direct) | — | $(ratio par.direct par.ssh) |"
    echo "| ssh -L | $(cell par.ssh) | $(cell par.ssh.cpu 2) | 1.00× |"
    echo "| ftptunnel $TUNNEL_MODE, Sessions 1 | $(cell par.s1) | $(cell par.s1.cpu 2) | $(ratio par.s1 par.ssh) |"
    echo "| ftptunnel $TUNNEL_MODE, Sessions 2 | $(cell par.s2) | $(cell par.s2.cpu 2) | $(ratio par.s2 par.ssh) |"
    echo
    notes par.direct par.ssh par.s1 par.s2
    echo "Sessions 2 vs Sessions 1: $(ratio par.s2 par.s1)."
    echo
  fi
  if [[ " $SECTIONS " == *" servers "* ]]; then
    echo "#### FTP servers, no tunnel ($SIZE file; $IDLE_SESSIONS idle logged-in sessions)"
    echo
    echo "| Server | Download MB/s | Upload MB/s | Idle RSS MiB (sum) | Idle PSS MiB (sum) | Download vs vsftpd | Upload vs vsftpd |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    echo "| vsftpd | $(cell direct.dl) | $(cell direct.ul) | $(cell vsftpd.rss 1) | $(cell vsftpd.pss 1) | 1.00× | 1.00× |"
    echo "| pasvd | $(cell pasvd.dl) | $(cell pasvd.ul) | $(cell pasvd.rss 1) | $(cell pasvd.pss 1) | $(ratio pasvd.dl direct.dl) | $(ratio pasvd.ul direct.ul) |"
    echo
    notes direct.dl direct.ul vsftpd.rss pasvd.dl pasvd.ul pasvd.rss pasvd.pss
  fi
  if [[ " $SECTIONS " == *" idle "* ]]; then
    echo "#### pasvd-memory: $IDLE_SESSIONS idle logged-in sessions of one account (target < $MEMORY_TARGET_MIB MiB PSS in total)"
    echo
    echo "| pasvd | Processes | RSS MiB (sum) | PSS MiB (sum) | PSS KiB per session | vs target |"
    echo "|---|---:|---:|---:|---:|---:|"
    local n label
    for n in shared 1; do
      label="--sessions-per-process $([ "$n" = shared ] && echo "32 (default)" || echo 1)"
      local pss; pss=$(median "idle.$n.pss")
      echo "| $label | $(cell "idle.$n.procs" 0) | $(cell "idle.$n.rss" 1) | $(cell "idle.$n.pss" 1) | $([ -n "$pss" ] && calc "$pss * 1024 / $IDLE_SESSIONS" | xargs printf '%.0f' || echo —) | $([ -n "$pss" ] && printf '%.2f×' "$(calc "$pss / $MEMORY_TARGET_MIB")" || echo —) |"
    done
    echo
    notes idle.shared.pss idle.shared.rss idle.1.pss idle.1.rss
  fi
  if [[ " $SECTIONS " == *" window "* ]]; then
    echo "#### libssh2 raw download by channel window (loopback $SIZE; ${DELAY_MS} ms each way $(numfmt --to=iec "$RTT_SIZE_BYTES"))"
    echo
    echo "| Window | Loopback MB/s | CPU-s/GiB | ${DELAY_MS} ms each way MB/s | CPU-s/GiB |"
    echo "|---|---:|---:|---:|---:|"
    local w
    for w in $RAW_WINDOWS; do
      echo "| $w | $(cell "win.$w") | $(cell "win.$w.cpu" 2) | $(cell "rttwin.$w" 1) | $(cell "rttwin.$w.cpu" 2) |"
    done
    echo "| ftptunnel rewrite, DataWindow auto (FTP: curl, commands included) | $(cell win.auto) | $(cell win.auto.cpu 2) | $(cell rttwin.auto 1) | $(cell rttwin.auto.cpu 2) |"
    echo
    notes $(for w in $RAW_WINDOWS auto; do echo "win.$w rttwin.$w"; done)
  fi
  if [[ " $SECTIONS " == *" bridge "* ]]; then
    echo "#### SFTP bridge (Mode sftp) vs OpenSSH sftp -B 32768 -R 64 vs rewrite tunnel to pasvd"
    echo
    echo "Loopback: $SIZE each way. ${DELAY_MS} ms each way ($((2 * DELAY_MS)) ms RTT): $(numfmt --to=iec "$RTT_SIZE_BYTES") down, $SIZE up."
    echo
    echo "| Row | Loopback down MB/s | Loopback up MB/s | RTT down MB/s | RTT up MB/s | Down vs sftp (loopback / RTT) | Up vs sftp (loopback / RTT) |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    echo "| OpenSSH sftp -B 32768 -R 64 | $(cell br.sftp.dl) | $(cell br.sftp.ul) | $(cell rttbr.sftp.dl 1) | $(cell rttbr.sftp.ul 1) | 1.00× / 1.00× | 1.00× / 1.00× |"
    echo "| ftptunnel Mode sftp (bridge) | $(cell br.ft.dl) | $(cell br.ft.ul) | $(cell rttbr.ft.dl 1) | $(cell rttbr.ft.ul 1) | $(ratio br.ft.dl br.sftp.dl) / $(ratio rttbr.ft.dl rttbr.sftp.dl) | $(ratio br.ft.ul br.sftp.ul) / $(ratio rttbr.ft.ul rttbr.sftp.ul) |"
    echo "| ftptunnel rewrite → pasvd | $(cell br.rw.dl) | $(cell br.rw.ul) | $(cell rttbr.rw.dl 1) | $(cell rttbr.rw.ul 1) | $(ratio br.rw.dl br.sftp.dl) / $(ratio rttbr.rw.dl rttbr.sftp.dl) | $(ratio br.rw.ul br.sftp.ul) / $(ratio rttbr.rw.ul rttbr.sftp.ul) |"
    echo
    notes br.sftp.dl br.sftp.ul rttbr.sftp.dl rttbr.sftp.ul br.ft.dl br.ft.ul rttbr.ft.dl rttbr.ft.ul br.rw.dl br.rw.ul rttbr.rw.dl rttbr.rw.ul
    echo "Bridge client CPU-s/GiB down: loopback $(cell br.ft.dl.cpu 2), RTT $(cell rttbr.ft.dl.cpu 2). Uploads are bounded by sshd's 2 MiB SFTP channel window per round trip, for both clients."
    echo
  fi
  if [[ " $SECTIONS " == *" listing "* ]]; then
    echo "#### Time to first listing (command start → LIST done)"
    echo
    echo "| Row | Median ms | vs ssh -L + curl |"
    echo "|---|---:|---:|"
    echo "| ssh -f -L … + curl | $(cell list.ssh) | 1.00× |"
    echo "| ftptunnel connect ($TUNNEL_MODE) + curl | $(cell list.ft) | $(ratio list.ft list.ssh) |"
    echo
    notes list.ssh list.ft
  fi
}

# ---------------------------------------------------------------------------------------------------------

[ -x "$BIN/libssh2-raw-bench" ] || { echo "build first: swift build -c release (missing $BIN/libssh2-raw-bench)" >&2; exit 1; }
LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
echo "bench: SIZE=$SIZE RUNS=$RUNS SECTIONS=\"$SECTIONS\" scratch=$W" >&2
setup_files
start_sshd
start_vsftpd
start_raw_endpoints
for s in $SECTIONS; do
  case $s in
    single|rtt|far|rttup|small|memory|idle|parallel|servers|listing|window|bridge) "section_$s" ;;
    *) echo "unknown section '$s' (single rtt far rttup small memory idle parallel servers listing window bridge)" >&2; exit 2 ;;
  esac
done
mkdir -p "$(dirname "$REPORT")"
print_report | tee "$REPORT"
{
  echo; echo "<!-- raw samples"
  for k in $(printf '%s\n' "${!SAMPLES[@]}" | sort); do echo "$k: ${SAMPLES[$k]}"; done
  for k in $(printf '%s\n' "${!STATUS[@]}" | sort); do echo "$k: ${STATUS[$k]}"; done
  echo "-->"
} >>"$REPORT"
echo "report: $REPORT" >&2
