# shellcheck shell=bash
# Section `parallel` of make bench (sourced by Benchmarks/run.sh): measure_parallel runs the rows, report_parallel
# prints their table.

# PAR_COUNT concurrent downloads of PAR_SIZE on loopback: no tunnel, ssh -L, ftptunnel with Sessions 1 and 2.
measure_parallel() {
  local r n
  echo "== parallel: $PAR_COUNT × $(numfmt --to=iec "$PAR_SIZE_BYTES") × $RUNS" >&2
  CPU_PID=""
  for ((r = 1; r <= RUNS; r++)); do parallel_download par.direct "$SERVER" "$FTP_PORT"; done
  if start_tunnel ssh "$SSH_PORT"; then
    CPU_PID=$TUN_PID
    for ((r = 1; r <= RUNS; r++)); do parallel_download par.ssh "$CLIENT" "$LPORT"; done
    stop_tunnel
  else fail par.ssh "$TUN_REASON"; fi
  for n in 1 2; do
    if start_tunnel "$TUNNEL_MODE" "$SSH_PORT" -o Sessions=$n; then
      CPU_PID=$TUN_PID
      for ((r = 1; r <= RUNS; r++)); do parallel_download "par.s$n" "$CLIENT" "$LPORT"; done
      stop_tunnel
    else na "par.s$n" "$TUN_REASON"; fi
  done
  CPU_PID=""
}

report_parallel() {
  echo "#### Parallel: $PAR_COUNT concurrent $(numfmt --to=iec "$PAR_SIZE_BYTES") downloads, aggregate"
  echo
  echo "| Row | Aggregate MB/s | Client CPU-s/GiB | vs ssh -L |"
  echo "|---|---:|---:|---:|"
  echo "| direct (no tunnel) | $(cell par.direct) | — | $(ratio par.direct par.ssh) |"
  echo "| ssh -L | $(cell par.ssh) | $(cell par.ssh.cpu 2) | 1.00× |"
  echo "| ftptunnel $TUNNEL_MODE, Sessions 1 | $(cell par.s1) | $(cell par.s1.cpu 2) | $(ratio par.s1 par.ssh) |"
  echo "| ftptunnel $TUNNEL_MODE, Sessions 2 | $(cell par.s2) | $(cell par.s2.cpu 2) | $(ratio par.s2 par.ssh) |"
  echo
  notes par.direct par.ssh par.s1 par.s2
  echo "Sessions 2 vs Sessions 1: $(ratio par.s2 par.s1)."
  echo
}
