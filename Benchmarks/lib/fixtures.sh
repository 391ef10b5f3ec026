# shellcheck shell=bash
# make bench, sourced by Benchmarks/run.sh: the test files and the servers every section shares (vsftpd, the
# raw TCP endpoints, the delay proxy, pasvd) and the memory probes of server processes.

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

# peak_rss_mib PID: the process's peak resident set (VmHWM) in MiB.
peak_rss_mib() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }

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
