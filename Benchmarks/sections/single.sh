# shellcheck shell=bash
# Section `single` of make bench (sourced by Benchmarks/run.sh): measure_single runs the rows, report_single
# prints their table.

# Single stream on loopback, SIZE each way: no tunnel, ssh -L, libssh2 raw (DATA_WINDOW and 2 MiB), ftptunnel
# fixed and rewrite; client CPU per GiB where a client process carries the bytes.
measure_single() {
  local r
  echo "== single stream: $SIZE × $RUNS" >&2
  CPU_PID=""
  for ((r = 1; r <= RUNS; r++)); do
    ftp_download direct.dl "$SERVER" "$FTP_PORT" data.bin "$DATA_SHA" "$SIZE_BYTES"
    ftp_upload direct.ul "$SERVER" "$FTP_PORT" "direct-$r"
  done
  if start_tunnel ssh "$SSH_PORT"; then
    CPU_PID=$TUN_PID
    for ((r = 1; r <= RUNS; r++)); do
      ftp_download ssh.dl "$CLIENT" "$LPORT" data.bin "$DATA_SHA" "$SIZE_BYTES"
      ftp_upload ssh.ul "$CLIENT" "$LPORT" "ssh-$r"
    done
    stop_tunnel
  else fail ssh.dl "$TUN_REASON"; fail ssh.ul "$TUN_REASON"; fi
  for ((r = 1; r <= RUNS; r++)); do
    raw_transfer raw.dl "$SSH_PORT" "$DATA_WINDOW" download
    raw_transfer raw.ul "$SSH_PORT" "$DATA_WINDOW" upload
    raw_transfer raw2.dl "$SSH_PORT" 2M download
  done
  local mode
  for mode in fixed rewrite; do
    if start_tunnel "$mode" "$SSH_PORT"; then
      CPU_PID=$TUN_PID
      for ((r = 1; r <= RUNS; r++)); do
        ftp_download "$mode.dl" "$CLIENT" "$LPORT" data.bin "$DATA_SHA" "$SIZE_BYTES"
        ftp_upload "$mode.ul" "$CLIENT" "$LPORT" "$mode-$r"
      done
      stop_tunnel
    else na "$mode.dl" "$TUN_REASON"; na "$mode.ul" "$TUN_REASON"; fi
  done
  CPU_PID=""
}

report_single() {
  echo "#### Single stream on loopback ($SIZE file)"
  echo
  echo "| Row | Download MB/s | Upload MB/s | Client CPU-s/GiB down / up | Download vs ssh -L | Download vs libssh2 raw | Upload vs ssh -L |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  echo "| direct (curl ↔ vsftpd, no tunnel) | $(cell direct.dl) | $(cell direct.ul) | — | $(ratio direct.dl ssh.dl) | $(ratio direct.dl raw.dl) | $(ratio direct.ul ssh.ul) |"
  echo "| ssh -L (control + passive ports) | $(cell ssh.dl) | $(cell ssh.ul) | $(cell ssh.dl.cpu 2) / $(cell ssh.ul.cpu 2) | 1.00× | $(ratio ssh.dl raw.dl) | 1.00× |"
  echo "| libssh2 raw (direct-tcpip, window $DATA_WINDOW) | $(cell raw.dl) | $(cell raw.ul) | $(cell raw.dl.cpu 2) / $(cell raw.ul.cpu 2) | $(ratio raw.dl ssh.dl) | 1.00× | $(ratio raw.ul ssh.ul) |"
  echo "| libssh2 raw, window 2 MiB (ssh -L's) | $(cell raw2.dl) | — | $(cell raw2.dl.cpu 2) / — | $(ratio raw2.dl ssh.dl) | $(ratio raw2.dl raw.dl) | — |"
  local mode
  for mode in fixed rewrite; do
    echo "| ftptunnel $mode | $(cell $mode.dl) | $(cell $mode.ul) | $(cell $mode.dl.cpu 2) / $(cell $mode.ul.cpu 2) | $(ratio $mode.dl ssh.dl) | $(ratio $mode.dl raw.dl) | $(ratio $mode.ul ssh.ul) |"
  done
  echo
  notes direct.dl direct.ul ssh.dl ssh.ul raw.dl raw.ul raw2.dl fixed.dl fixed.ul rewrite.dl rewrite.ul
  echo "CPU-s/GiB vs libssh2 raw: ftptunnel fixed $(ratio fixed.dl.cpu raw.dl.cpu), rewrite $(ratio rewrite.dl.cpu raw.dl.cpu); ssh -L $(ratio ssh.dl.cpu raw.dl.cpu)."
  echo
}
