# shellcheck shell=bash
# make bench, sourced by Benchmarks/run.sh: the tunnels (ssh -L and ftptunnel) and the measured transfers.

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
