# shellcheck shell=bash
# Section `memory` of make bench (sourced by Benchmarks/run.sh): measure_memory runs the rows, report_memory
# prints their table.

# Memory: MEM_COUNT concurrent downloads of a MEM_SIZE file by clients reading at MEM_RATE (curl
# --limit-rate), through one ftptunnel per window setting; records the tunnel's peak RSS (VmHWM) and the
# aggregate rate. The file is larger than any window so that a window the slow clients do not drain shows.
measure_memory() {
  local w key i t0 t1 pids failed
  echo "== memory: $MEM_COUNT × $(numfmt --to=iec "$MEM_SIZE_BYTES") at $MEM_RATE/s each, DataWindow $MEM_WINDOWS" >&2
  local mem_port=$SSH_PORT
  if [ -n "${MEM_DELAY:-}" ]; then [ -n "${DELAY_PORT:-}" ] || start_delay_proxy; mem_port=$DELAY_PORT; fi
  head -c "$MEM_SIZE_BYTES" "$W/ftp/data.bin" >"$W/ftp/mem.bin"; MEM_SHA=$(sha "$W/ftp/mem.bin")
  for w in $MEM_WINDOWS; do
    key=mem.$w
    if ! TUNNEL_WINDOW=$w start_tunnel "$TUNNEL_MODE" "$mem_port" ${MEM_TUNNEL_OPTS:-}; then na "$key" "$TUN_REASON"; na "$key.rate" "$TUN_REASON"; continue; fi
    pids=(); failed=""
    t0=$(now)
    for ((i = 0; i < MEM_COUNT; i++)); do
      "${CURL[@]}" ${MEM_CURL_OPTS:-} --limit-rate "$MEM_RATE" -o "$W/out/mem-$i.bin" "ftp://$CLIENT:$LPORT/mem.bin" 2>"$W/curl-$i.err" &
      pids+=($!)
    done
    for i in "${!pids[@]}"; do wait "${pids[i]}" || failed+="#$i curl exit $? $(head -c 80 "$W/curl-$i.err"); "; done
    t1=$(now)
    for ((i = 0; i < MEM_COUNT; i++)); do
      [ -z "$failed" ] && [ "$(sha "$W/out/mem-$i.bin")" != "$MEM_SHA" ] && failed+="#$i sha256 mismatch; "
      rm -f "$W/out/mem-$i.bin"
    done
    if [ -n "$failed" ]; then
      fail "$key" "$failed tunnel: $(grep -m3 -i 'error\|warning' "$W/tunnel.err" | tr -s '\n' ' ' | head -c 300)"; STATUS[$key.rate]=${STATUS[$key]}
    else
      record "$key" "$(peak_rss_mib "$TUN_PID")"
      record "$key.rate" "$(calc "$MEM_COUNT * $MEM_SIZE_BYTES / ($t1 - $t0) / 1e6")"
    fi
    stop_tunnel
  done
  rm -f "$W/ftp/mem.bin"
}

report_memory() {
  echo "#### Memory: $MEM_COUNT concurrent $(numfmt --to=iec "$MEM_SIZE_BYTES") downloads at $MEM_RATE/s each (curl --limit-rate), one tunnel$([ -n "${MEM_DELAY:-}" ] && echo ", through the delay proxy ($((2 * DELAY_MS)) ms RTT)")"
  echo
  echo "| DataWindow | Tunnel peak RSS MiB (VmHWM) | Aggregate MB/s |"
  echo "|---|---:|---:|"
  local mw
  for mw in $MEM_WINDOWS; do echo "| $mw | $(cell "mem.$mw" 1) | $(cell "mem.$mw.rate" 1) |"; done
  echo
  notes $(for mw in $MEM_WINDOWS; do echo "mem.$mw mem.$mw.rate"; done)
}
