# shellcheck shell=bash
# Section `servers` of make bench (sourced by Benchmarks/run.sh): measure_servers runs the rows, report_servers
# prints their table.

# pasvd against vsftpd without a tunnel: transfer rates and the memory of IDLE_SESSIONS idle logged-in sessions.
measure_servers() {
  local r
  echo "== servers: pasvd vs vsftpd, $SIZE × $RUNS, $IDLE_SESSIONS idle sessions" >&2
  CPU_PID=""
  # vsftpd's transfer figures are the `direct` rows of the single-stream table when it ran.
  if [ -z "${SAMPLES[direct.dl]:-}${STATUS[direct.dl]:-}" ]; then
    for ((r = 1; r <= RUNS; r++)); do
      ftp_download direct.dl "$SERVER" "$FTP_PORT" data.bin "$DATA_SHA" "$SIZE_BYTES"
      ftp_upload direct.ul "$SERVER" "$FTP_PORT" "direct-$r"
    done
  fi
  idle_memory vsftpd "$FTP_PORT" "$VSFTPD_PID"
  if start_pasvd; then
    for ((r = 1; r <= RUNS; r++)); do
      ftp_download pasvd.dl "$SERVER" "$PASVD_PORT" data.bin "$DATA_SHA" "$SIZE_BYTES"
      ftp_upload pasvd.ul "$SERVER" "$PASVD_PORT" "pasvd-$r"
    done
    idle_memory pasvd "$PASVD_PORT" "$PASVD_PID"
    kill_tree "$PASVD_PID"; forget "$PASVD_PID"
  else
    local k; for k in pasvd.dl pasvd.ul pasvd.rss pasvd.pss; do na "$k" "$PASVD_REASON"; done
  fi
}

report_servers() {
  echo "#### FTP servers, no tunnel ($SIZE file; $IDLE_SESSIONS idle logged-in sessions)"
  echo
  echo "| Server | Download MB/s | Upload MB/s | Idle RSS MiB (sum) | Idle PSS MiB (sum) | Download vs vsftpd | Upload vs vsftpd |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  echo "| vsftpd | $(cell direct.dl) | $(cell direct.ul) | $(cell vsftpd.rss 1) | $(cell vsftpd.pss 1) | 1.00× | 1.00× |"
  echo "| pasvd | $(cell pasvd.dl) | $(cell pasvd.ul) | $(cell pasvd.rss 1) | $(cell pasvd.pss 1) | $(ratio pasvd.dl direct.dl) | $(ratio pasvd.ul direct.ul) |"
  echo
  notes direct.dl direct.ul vsftpd.rss pasvd.dl pasvd.ul pasvd.rss pasvd.pss
}
