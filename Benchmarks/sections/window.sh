# shellcheck shell=bash
# Section `window` of make bench (sourced by Benchmarks/run.sh): measure_window runs the rows, report_window
# prints their table.

# Optional: libssh2 raw downloads at each window of RAW_WINDOWS, on loopback and through the delay proxy, and
# ftptunnel (rewrite) with `DataWindow auto` on both for comparison.
measure_window() {
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

report_window() {
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
}
