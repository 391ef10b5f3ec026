# shellcheck shell=bash
# make bench, sourced by Benchmarks/run.sh: the scratch folder, the processes it starts (torn down on exit),
# waiting for helpers, clocks and hashes.

# ---------------------------------------------------------------------------------------------------------
# Processes: everything started here is recorded and torn down (with its descendants, by pid) on exit.

W=$(mktemp -d "$BENCH_DIR/ftptunnel-bench.XXXXXX") || exit 1
STARTED=()

descendants() {  # pids of every descendant of $1
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$child"; descendants "$child"
  done
}

kill_tree() {  # kill_tree PID: TERM the process and its descendants, wait for them (deadline), then KILL
  local pid=$1 pids p deadline
  kill -0 "$pid" 2>/dev/null || return 0
  pids="$pid $(descendants "$pid")"
  for p in $pids; do kill -TERM "$p" 2>/dev/null; done
  deadline=$(( ${EPOCHSECONDS} + 5 ))
  for p in $pids; do
    while kill -0 "$p" 2>/dev/null && [ "$(ps -o stat= -p "$p" 2>/dev/null)" != "Z" ] && ((EPOCHSECONDS < deadline)); do
      sleep "$POLL_INTERVAL"
    done
    kill -KILL "$p" 2>/dev/null
  done
  wait "$pid" 2>/dev/null
  return 0
}

cleanup() {
  local i
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do kill_tree "${STARTED[i]}"; done
  for i in "$W"/ssh-ctl-*; do [ -S "$i" ] && ssh -S "$i" -O exit "$CLIENT" >/dev/null 2>&1; done
  if [ -n "${BENCH_KEEP:-}" ]; then echo "kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started() { STARTED+=("$1"); }

# shellcheck source=../../scripts/lib/loopback.sh
source "$ROOT/scripts/lib/loopback.sh"

forget() {  # forget PID: stop tracking a process after it was stopped
  local i
  for i in "${!STARTED[@]}"; do [ "${STARTED[i]}" = "$1" ] && unset 'STARTED[i]'; done
  STARTED=("${STARTED[@]}")
}

alive() { kill -0 "$1" 2>/dev/null && [ "$(ps -o stat= -p "$1" 2>/dev/null | cut -c1)" != "Z" ]; }

# line_in FILE PATTERN: the first line of FILE matching PATTERN; fails if none.
line_in() { grep -m1 -- "$2" "$1" 2>/dev/null; }

# start_listener NAME FILE COMMAND...: starts a helper that prints `listening PORT`; sets LISTEN_PORT, LISTEN_PID.
start_listener() {
  local name=$1 out=$W/$1.out; shift
  "$@" >"$out" 2>"$W/$name.err" &
  LISTEN_PID=$!; started "$LISTEN_PID"
  if ! wait_until "$START_DEADLINE" line_in "$out" '^listening '; then
    echo "$name did not start: $(head -c 300 "$W/$name.err")" >&2; exit 1
  fi
  LISTEN_PORT=$(line_in "$out" '^listening ' | cut -d' ' -f2)
}

cpu_ticks() {  # utime+stime of a process (all threads), in clock ticks; 0 without a pid
  local stat rest
  [ -n "$1" ] || { echo 0; return; }
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  rest=${stat##*) }
  set -- $rest
  echo $(( ${12} + ${13} ))
}
CLK_TCK=$(getconf CLK_TCK)

now() { echo "$EPOCHREALTIME"; }
calc() { awk "BEGIN { printf \"%.6f\", $* }"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
