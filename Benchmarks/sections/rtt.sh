# shellcheck shell=bash
# Section `rtt` of make bench (sourced by Benchmarks/run.sh): measure_rtt runs the rows, report_rtt
# prints their table.

# Downloads of RTT_SIZE through the delay proxy (DELAY_MS each way): ssh -L, libssh2 raw at 16 and 2 MiB
# windows, ftptunnel in TUNNEL_MODE with TUNNEL_WINDOW.
measure_rtt() {
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

report_rtt() {
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
}
