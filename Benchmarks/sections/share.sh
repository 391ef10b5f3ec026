# shellcheck shell=bash
# Section `share` of make bench (sourced by Benchmarks/run.sh): measure_share runs the rows, report_share
# prints their table.

# Mode sftp's greeting at a far round trip (FAR_DELAY_MS each way through the delay proxy): time from a client's
# TCP connect to its 220, for the bridge's first FTP session (it needs an SSH session first) and for a second one
# right after the first logged in, and for a third 2 s later, both while the first is still connected (they share
# its SSH session: no SSH handshake; the third finds an SFTP channel the bridge started ahead).
measure_share() {
  local r far_port out
  echo "== SFTP bridge greeting: ${FAR_DELAY_MS} ms each way × $RUNS" >&2
  start_listener sharedelay "$PY" "$TOOLS/delay_proxy.py" --listen "$CLIENT" --target "$CLIENT:$SSH_PORT" --delay-ms "$FAR_DELAY_MS"
  far_port=$LISTEN_PORT
  add_known_host "$far_port"
  for ((r = 1; r <= RUNS; r++)); do
    if start_tunnel sftp "$far_port" --sftp-root "$W/ftp"; then
      if out=$(timeout "$TRANSFER_DEADLINE" "$PY" "$TOOLS/first_reply.py" "$CLIENT" "$LPORT" 2>&1); then
        record share.first "$(awk '/^first / { printf "%.0f", $2 * 1000 }' <<<"$out")"
        record share.second "$(awk '/^second / { printf "%.0f", $2 * 1000 }' <<<"$out")"
        record share.later "$(awk '/^later / { printf "%.0f", $2 * 1000 }' <<<"$out")"
      else fail share.first "$(head -c 120 <<<"$out")"; fail share.second "see share.first"; fail share.later "see share.first"; fi
      stop_tunnel
    else na share.first "$TUN_REASON"; na share.second "$TUN_REASON"; na share.later "$TUN_REASON"; fi
  done
  kill_tree "$LISTEN_PID"; forget "$LISTEN_PID"
}

report_share() {
  echo "#### SFTP bridge greeting at $((2 * FAR_DELAY_MS)) ms RTT (TCP connect → 220)"
  echo
  echo "| FTP session | Median ms |"
  echo "|---|---:|"
  echo "| first (opens the SSH session) | $(cell share.first 0) |"
  echo "| second, right after the first logged in | $(cell share.second 0) |"
  echo "| third, 2 s later, the first still connected | $(cell share.later 0) |"
  echo
  notes share.first share.second share.later
}
