# shellcheck shell=bash
# Section `far` of make bench (sourced by Benchmarks/run.sh): measure_far runs the rows, report_far
# prints their table.

# Far round trip: FAR_DELAY_MS each way (200 ms RTT by default: an intercontinental or satellite link), a
# FAR_SIZE download through ssh -L and through ftptunnel with default settings. ftptunnel runs with -v so that
# each data connection's closing line tells the largest window `DataWindow auto` granted it.
measure_far() {
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

report_far() {
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
}
