# shellcheck shell=bash
# Section `rttup` of make bench (sourced by Benchmarks/run.sh): measure_rttup runs the rows, report_rttup
# prints their table.

# Uploads at the delay proxy's round trip: RTT_UP_SIZE through ssh -L and ftptunnel. sshd grants the
# window in this direction (OpenSSH: 2 MiB), for both clients.
measure_rttup() {
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

report_rttup() {
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
}
