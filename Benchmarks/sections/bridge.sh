# shellcheck shell=bash
# Section `bridge` of make bench (sourced by Benchmarks/run.sh): measure_bridge runs the rows, report_bridge
# prints their table.

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
measure_bridge() {
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

report_bridge() {
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
  echo "Bridge client CPU-s/GiB down: loopback $(cell br.ft.dl.cpu 2), RTT $(cell rttbr.ft.dl.cpu 2). Uploads through one channel are bounded by sshd's 2 MiB SFTP channel window per round trip (sftp; the bridge stripes). The bridge's downloads of 64 MiB and more go over a raw SFTP channel with 16 MiB of reads in flight (sftp: 2 MiB)."
  echo
}
