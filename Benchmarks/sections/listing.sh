# shellcheck shell=bash
# Section `listing` of make bench (sourced by Benchmarks/run.sh): measure_listing runs the rows, report_listing
# prints their table.

# Time from the command's start to a finished LIST: ssh -f -L then curl, against ftptunnel connect then curl.
# list_ok FILE: the listing shows the test file.
list_ok() { grep -q 'data\.bin' "$1"; }

measure_listing() {
  local r t0 t1 ctl status
  echo "== time to first listing × $RUNS" >&2
  for ((r = 1; r <= RUNS; r++)); do
    # ssh -L + curl: ssh -f returns once every forward is bound (ExitOnForwardFailure), then curl lists.
    LPORT=$(free_ports 1); ctl=$W/ssh-ctl-$r
    t0=$(now)
    # shellcheck disable=SC2046
    timeout "$START_DEADLINE" ssh -f -N -M -S "$ctl" $(ssh_base_args "$SSH_PORT") \
      -L "$CLIENT:$LPORT:$SERVER:$FTP_PORT" $(passive_forwards) "$CLIENT" </dev/null >/dev/null 2>"$W/ssh-f.err" &&
      "${CURL[@]}" "ftp://$CLIENT:$LPORT/" >"$W/list.out" 2>"$W/curl.err"
    status=$?; t1=$(now)
    if ((status == 0)) && list_ok "$W/list.out"; then record list.ssh "$(calc "($t1 - $t0) * 1000")"
    else fail list.ssh "exit $status: $(cat "$W/ssh-f.err" "$W/curl.err" | head -c 160)"; fi
    ssh -S "$ctl" -O exit "$CLIENT" >/dev/null 2>&1
    wait_until "$START_DEADLINE" eval '[ ! -S "$ctl" ]' || echo "  warning: ssh master $ctl still running" >&2
    # ftptunnel: command start → `ready` → curl lists.
    LPORT=$(free_ports 1)
    t0=$(now)
    if start_tunnel_at_lport "$TUNNEL_MODE"; then
      "${CURL[@]}" "ftp://$CLIENT:$LPORT/" >"$W/list.out" 2>"$W/curl.err"; status=$?; t1=$(now)
      if ((status == 0)) && list_ok "$W/list.out"; then record list.ft "$(calc "($t1 - $t0) * 1000")"
      else fail list.ft "curl exit $status: $(head -c 120 "$W/curl.err")"; fi
      stop_tunnel
    else na list.ft "$TUN_REASON"; fi
  done
}

# start_tunnel_at_lport MODE: like start_tunnel, but keeps the LPORT the caller chose (its clock is running).
start_tunnel_at_lport() {
  local key="$1 "
  TUN_REASON=""
  if [ -n "${TUNNEL_BROKEN[$key]:-}" ]; then TUN_REASON=${TUNNEL_BROKEN[$key]}; return 1; fi
  if [ ! -x "$BIN/ftptunnel" ]; then TUN_REASON="ftptunnel not built"; return 1; fi
  start_ftptunnel "$1" "$SSH_PORT" || { TUNNEL_BROKEN[$key]=$TUN_REASON; return 1; }
}

report_listing() {
  echo "#### Time to first listing (command start → LIST done)"
  echo
  echo "| Row | Median ms | vs ssh -L + curl |"
  echo "|---|---:|---:|"
  echo "| ssh -f -L … + curl | $(cell list.ssh) | 1.00× |"
  echo "| ftptunnel connect ($TUNNEL_MODE) + curl | $(cell list.ft) | $(ratio list.ft list.ssh) |"
  echo
  notes list.ssh list.ft
}
