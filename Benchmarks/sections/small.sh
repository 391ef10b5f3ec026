# shellcheck shell=bash
# Section `small` of make bench (sourced by Benchmarks/run.sh): measure_small runs the rows, report_small
# prints their table.

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
measure_small() {
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

report_small() {
  echo "#### Many small files: lftp mirror of $SMALL_COUNT × $SMALL_BYTES bytes, $((2 * DELAY_MS)) ms RTT (median of $SMALL_RUNS)"
  echo
  echo "| Row | Seconds | vs ssh -L |"
  echo "|---|---:|---:|"
  echo "| ssh -L (control + every passive port) | $(cell small.ssh 2) | 1.00× |"
  echo "| ftptunnel $TUNNEL_MODE, EarlyDataChannel yes | $(cell small.ft.yes 2) | $(ratio small.ft.yes small.ssh) |"
  echo "| ftptunnel $TUNNEL_MODE, EarlyDataChannel no | $(cell small.ft.no 2) | $(ratio small.ft.no small.ssh) |"
  echo
  notes small.ssh small.ft.yes small.ft.no
}
