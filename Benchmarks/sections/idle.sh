# shellcheck shell=bash
# Section `idle` of make bench (sourced by Benchmarks/run.sh): measure_idle runs the rows, report_idle
# prints their table.

# The pasvd-memory target: IDLE_SESSIONS idle logged-in sessions (of one account) under 64 MiB PSS in total, with
# sessions sharing account worker processes (the default --sessions-per-process) and, for comparison, with a
# process per session (--sessions-per-process 1).
MEMORY_TARGET_MIB=64
measure_idle() {
  local r n
  echo "== pasvd-memory: $IDLE_SESSIONS idle sessions × $RUNS, default --sessions-per-process and 1" >&2
  for ((r = 1; r <= RUNS; r++)); do
    for n in shared 1; do
      if [ "$n" = shared ]; then start_pasvd; else start_pasvd --sessions-per-process 1; fi || {
        local k; for k in "idle.$n.rss" "idle.$n.pss" "idle.$n.procs"; do na "$k" "$PASVD_REASON"; done; continue; }
      idle_memory "idle.$n" "$PASVD_PORT" "$PASVD_PID"
      kill_tree "$PASVD_PID"; forget "$PASVD_PID"
    done
  done
}

report_idle() {
  echo "#### pasvd-memory: $IDLE_SESSIONS idle logged-in sessions of one account (target < $MEMORY_TARGET_MIB MiB PSS in total)"
  echo
  echo "| pasvd | Processes | RSS MiB (sum) | PSS MiB (sum) | PSS KiB per session | vs target |"
  echo "|---|---:|---:|---:|---:|---:|"
  local n label
  for n in shared 1; do
    label="--sessions-per-process $([ "$n" = shared ] && echo "32 (default)" || echo 1)"
    local pss; pss=$(median "idle.$n.pss")
    echo "| $label | $(cell "idle.$n.procs" 0) | $(cell "idle.$n.rss" 1) | $(cell "idle.$n.pss" 1) | $([ -n "$pss" ] && calc "$pss * 1024 / $IDLE_SESSIONS" | xargs printf '%.0f' || echo —) | $([ -n "$pss" ] && printf '%.2f×' "$(calc "$pss / $MEMORY_TARGET_MIB")" || echo —) |"
  done
  echo
  notes idle.shared.pss idle.shared.rss idle.1.pss idle.1.rss
}
