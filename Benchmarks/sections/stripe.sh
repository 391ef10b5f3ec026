# shellcheck shell=bash
# Section `stripe` of make bench (sourced by Benchmarks/run.sh): measure_stripe runs the rows, report_stripe
# prints their table.

# Mode sftp uploads striped over several SFTP channels (SFTPStreams, default 8) at the delay proxy's round trip
# (DELAY_MS each way) and at FAR_DELAY_MS each way, against OpenSSH's sftp client (one channel) and against the
# bridge held to one channel (SFTPStreams 1, the behaviour before striping). sshd grants every channel a fixed
# 2 MiB window, so one channel uploads at most 2 MiB per round trip whatever the client does.

# stripe_sftp_upload KEY PORT: OpenSSH sftp (-B 32768 -R 64) puts stripe.bin; hashed on the server side.
stripe_sftp_upload() {
  local key=$1 port=$2 target=$W/ftp/upload/sftp-stripe.bin t0 t1 status
  local args=(-q -B 32768 -R 64 -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$KNOWN_HOSTS"
              -o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes -i "$KEY" -P "$port" -c "$CIPHER" -o MACs="$MAC")
  t0=$(now); echo "put $W/stripe.bin $target" | timeout "$TRANSFER_DEADLINE" sftp "${args[@]}" -b - "$USER_NAME@$CLIENT" >/dev/null 2>"$W/sftp.err"; status=$?; t1=$(now)
  if ((status != 0)); then fail "$key" "sftp exit $status: $(head -c 120 "$W/sftp.err")"; rm -f "$target"; return 1; fi
  if [ "$(sha "$target")" != "$STRIPE_SHA" ]; then fail "$key" "sha256 mismatch"; rm -f "$target"; return 1; fi
  rm -f "$target"
  record "$key" "$(calc "$STRIPE_BYTES / ($t1 - $t0) / 1e6")"
}

# stripe_bridge_rows KEY PORT [OPTIONS...]: RUNS uploads through one bridge; records MB/s, CPU, peak RSS and the
# SFTP streams each upload used (from the bridge's -v log).
stripe_bridge_rows() {
  local key=$1 port=$2 r streams before; shift 2
  if start_tunnel sftp "$port" --sftp-root "$W/ftp" -v "$@"; then
    CPU_PID=$TUN_PID
    for ((r = 1; r <= RUNS; r++)); do
      before=$(grep -c ' SFTP streams in ' "$W/tunnel.err")
      ftp_upload "$key" "$CLIENT" "$LPORT" "$key-$r" "$W/stripe.bin" "$STRIPE_SHA" "$STRIPE_BYTES" || continue
      streams=1
      if (($(grep -c ' SFTP streams in ' "$W/tunnel.err") > before)); then
        streams=$(grep -o 'over [0-9]* SFTP streams' "$W/tunnel.err" | tail -n 1 | awk '{ print $2 }')
      fi
      record "$key.streams" "$streams"
    done
    record "$key.rss" "$(peak_rss_mib "$TUN_PID")"
    stop_tunnel
  else na "$key" "$TUN_REASON"; fi
  CPU_PID=""
}

# stripe_kept_rows KEY PORT: RUNS times, one curl uploads stripe.bin twice over one FTP session (one SSH session);
# the second upload (KEY) finds the first one's extra channels kept open. Both hashed on the server side.
stripe_kept_rows() {
  local key=$1 port=$2 r first second status
  if start_tunnel sftp "$port" --sftp-root "$W/ftp" -v; then
    CPU_PID=$TUN_PID
    for ((r = 1; r <= RUNS; r++)); do
      "${CURL[@]}" -w '%{time_total}\n' -T "$W/stripe.bin" "ftp://$CLIENT:$LPORT/upload/kept-a.bin" \
        -T "$W/stripe.bin" "ftp://$CLIENT:$LPORT/upload/kept-b.bin" >"$W/curl.times" 2>"$W/curl.err"; status=$?
      if ((status != 0)); then fail "$key" "curl exit $status: $(head -c 120 "$W/curl.err")"; rm -f "$W/ftp/upload/kept-"*; continue; fi
      if [ "$(sha "$W/ftp/upload/kept-a.bin")" != "$STRIPE_SHA" ] || [ "$(sha "$W/ftp/upload/kept-b.bin")" != "$STRIPE_SHA" ]; then
        fail "$key" "sha256 mismatch"; rm -f "$W/ftp/upload/kept-"*; continue
      fi
      rm -f "$W/ftp/upload/kept-"*
      { read -r first; read -r second; } <"$W/curl.times"
      record "$key" "$(calc "$STRIPE_BYTES / $second / 1e6")"
    done
    stop_tunnel
  else na "$key" "$TUN_REASON"; fi
  CPU_PID=""
}

# stripe_shared_rows KEY PORT: as stripe_bridge_rows, while another FTP session of the bridge stays logged in
# and idle (a browsing connection, as FileZilla keeps beside its transfer connections): each upload's FTP session
# shares that one's SSH session, so it pays no SSH login, only its SFTP channel start.
stripe_shared_rows() {
  local key=$1 port=$2 r holder
  if start_tunnel sftp "$port" --sftp-root "$W/ftp" -v; then
    CPU_PID=$TUN_PID
    "$PY" -c 'import ftplib, signal, sys
ftp = ftplib.FTP()
ftp.connect(sys.argv[1], int(sys.argv[2]), timeout=60)
ftp.login("anonymous", "")
print("ready", flush=True)
signal.pause()' "$CLIENT" "$LPORT" </dev/null >"$W/holder.out" 2>&1 &
    holder=$!; started "$holder"
    if wait_until "$START_DEADLINE" grep -q ready "$W/holder.out"; then
      for ((r = 1; r <= RUNS; r++)); do
        ftp_upload "$key" "$CLIENT" "$LPORT" "$key-$r" "$W/stripe.bin" "$STRIPE_SHA" "$STRIPE_BYTES" || continue
      done
    else fail "$key" "the idle FTP session did not log in: $(head -c 120 "$W/holder.out")"; fi
    kill_tree "$holder"; forget "$holder"
    stop_tunnel
  else na "$key" "$TUN_REASON"; fi
  CPU_PID=""
}

measure_stripe() {
  local prefix port far_port r
  STRIPE_BYTES=$(numfmt --from=iec "${STRIPE_SIZE:-256M}") || { echo "STRIPE_SIZE is not a size" >&2; exit 2; }
  ((STRIPE_BYTES <= SIZE_BYTES)) || { echo "STRIPE_SIZE is larger than SIZE" >&2; exit 2; }
  echo "== striped SFTP uploads: $(numfmt --to=iec "$STRIPE_BYTES") at ${DELAY_MS} and ${FAR_DELAY_MS} ms each way × $RUNS" >&2
  head -c "$STRIPE_BYTES" "$W/ftp/data.bin" >"$W/stripe.bin"; STRIPE_SHA=$(sha "$W/stripe.bin")
  mkdir -p "$W/ftp/upload"
  [ -n "${DELAY_PORT:-}" ] || start_delay_proxy
  start_listener stripefar "$PY" "$TOOLS/delay_proxy.py" --listen "$CLIENT" --target "$CLIENT:$SSH_PORT" --delay-ms "$FAR_DELAY_MS"
  far_port=$LISTEN_PORT
  add_known_host "$far_port"
  for prefix in st st.far; do
    if [ "$prefix" = st ]; then port=$DELAY_PORT; else port=$far_port; fi
    for ((r = 1; r <= RUNS; r++)); do stripe_sftp_upload "$prefix.sftp" "$port"; done
    stripe_bridge_rows "$prefix.ft" "$port"
    stripe_bridge_rows "$prefix.one" "$port" -o SFTPStreams=1
    stripe_shared_rows "$prefix.shared" "$port"
    stripe_kept_rows "$prefix.kept" "$port"
  done
  kill_tree "$LISTEN_PID"; forget "$LISTEN_PID"
  rm -f "$W/stripe.bin"
}

report_stripe() {
  local near=$((2 * DELAY_MS)) far=$((2 * FAR_DELAY_MS))
  echo "#### Striped SFTP uploads (Mode sftp, SFTPStreams): $(numfmt --to=iec "$STRIPE_BYTES") upload at $near ms and $far ms RTT"
  echo
  echo "| Row | $near ms MB/s | vs sftp | streams | peak RSS MiB | $far ms MB/s | vs sftp | streams | peak RSS MiB |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  echo "| OpenSSH sftp -B 32768 -R 64 | $(cell st.sftp 1) | 1.00× | 1 | — | $(cell st.far.sftp 1) | 1.00× | 1 | — |"
  echo "| ftptunnel Mode sftp, SFTPStreams 1 | $(cell st.one 1) | $(ratio st.one st.sftp) | 1 | $(cell st.one.rss 1) | $(cell st.far.one 1) | $(ratio st.far.one st.far.sftp) | 1 | $(cell st.far.one.rss 1) |"
  echo "| ftptunnel Mode sftp (SFTPStreams 8, default) | $(cell st.ft 1) | $(ratio st.ft st.sftp) | $(cell st.ft.streams) | $(cell st.ft.rss 1) | $(cell st.far.ft 1) | $(ratio st.far.ft st.far.sftp) | $(cell st.far.ft.streams) | $(cell st.far.ft.rss 1) |"
  echo "| same, another FTP session of the bridge logged in (shared SSH session) | $(cell st.shared 1) | $(ratio st.shared st.sftp) | — | — | $(cell st.far.shared 1) | $(ratio st.far.shared st.far.sftp) | — | — |"
  echo "| same, second upload of one FTP session (channels kept) | $(cell st.kept 1) | $(ratio st.kept st.sftp) | — | — | $(cell st.far.kept 1) | $(ratio st.far.kept st.far.sftp) | — | — |"
  echo
  notes st.sftp st.one st.ft st.shared st.kept st.far.sftp st.far.one st.far.ft st.far.shared st.far.kept
  echo "One channel is bounded by sshd's 2 MiB window per round trip: $(calc "2 * 1048576 / ($near / 1000) / 1e6" | cut -d. -f1) MB/s at $near ms, $(calc "2 * 1048576 / ($far / 1000) / 1e6" | cut -d. -f1) MB/s at $far ms (OpenSSH sftp and SFTPStreams 1)."
  echo "Striped, the bound is that times the streams in use; the streams double per round trip while they are window-limited; new channels open one at a time per SSH session (one round trip each, their subsystem, SFTP version and file open overlapping), kept channels join at once (one round trip: the file open). The extra streams frame SFTP themselves and keep their window full; the FTP session's own channel (libssh2's handle, one segment at a time) steps aside once SFTPStreams of them write. After the last acknowledgement one round trip syncs (fsync@openssh.com) and closes every handle, one more renames (posix-rename@openssh.com); the target's look and the temporary's open share the first. Streams: median of the most each upload used. Peak RSS: the bridge process after all runs. The other rows time each curl from its start: the default row's include an SSH login (the bridge closes an SSH session no FTP session uses, so each upload's FTP session opens one), the shared row's only the FTP session's SFTP channel start on the idle session's SSH session; the kept-channels row times curl's second transfer only (its own curl -w time_total), which reuses the control connection, the SSH session and the channels the first upload opened."
  echo
}
