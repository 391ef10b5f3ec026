# shellcheck shell=bash
# make bench, sourced by Benchmarks/run.sh: the samples each section records and how a report prints them.

# ---------------------------------------------------------------------------------------------------------
# Results: samples per key; a key is FAILED or n/a with a reason, or a list of numbers.

declare -A SAMPLES STATUS
record() { SAMPLES[$1]+="$2 "; }                       # record KEY VALUE
fail() { STATUS[$1]="FAILED ($2)"; echo "  $1: FAILED ($2)" >&2; }
na() { [ -n "${STATUS[$1]:-}" ] || STATUS[$1]="n/a ($2)"; }

median() {  # median KEY → number, empty if no samples
  local values=${SAMPLES[$1]:-}
  [ -n "$values" ] || return 0
  tr ' ' '\n' <<<"$values" | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END {
    if (NR % 2) printf "%.6f", v[(NR + 1) / 2]; else printf "%.6f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# cell KEY [DECIMALS]: the median formatted, or `n/a` / `FAILED` (the reason goes under the table).
cell() {
  if [ -n "${STATUS[$1]:-}" ]; then echo "${STATUS[$1]%% *}"; return; fi
  local m; m=$(median "$1")
  if [ -z "$m" ]; then echo "—"; else printf "%.${2:-0}f" "$m"; fi
}

# notes KEY...: the reasons of every n/a or FAILED cell among KEYs, one line per distinct reason.
notes() {
  local k reason; local -A rows=(); local order=()
  for k in "$@"; do
    reason=${STATUS[$k]:-}; [ -n "$reason" ] || continue
    [ -n "${rows[$reason]:-}" ] || order+=("$reason")
    rows[$reason]+="${rows[$reason]:+, }$k"
  done
  ((${#order[@]})) || return 0
  for reason in "${order[@]}"; do echo "- ${rows[$reason]}: $reason"; done
  echo
}

# ratio KEY REFKEY: median(KEY) / median(REFKEY) as `0.95×`, or — when either is missing.
ratio() {
  [ -z "${STATUS[$1]:-}" ] && [ -z "${STATUS[$2]:-}" ] || { echo "—"; return; }
  local a b; a=$(median "$1"); b=$(median "$2")
  [ -n "$a" ] && [ -n "$b" ] || { echo "—"; return; }
  awk -v a="$a" -v b="$b" 'BEGIN { if (b == 0) print "—"; else printf "%.2f×", a / b }'
}
