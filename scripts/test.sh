#!/usr/bin/env bash
# `make test`: every suite against the debug build, then again against release-optimised executables (built with
# -enable-testing in .build-release: optimisation exposes undefined behaviour that debug builds hide), the stress
# test alone in each configuration, and a bounded run of every fuzz target. Builds of the next phase run niced in
# the background while a test phase runs, so the tests keep the CPU when they need it. Every phase runs even when
# an earlier one failed; the exit status is non-zero if any failed, and the summary says which.
set -uo pipefail
cd "$(dirname "$0")/.."

SWIFT=${SWIFT:-swift}
release=(-c release -Xswiftc -enable-testing --scratch-path .build-release)
stress=RewriteStressTests
mkdir -p .build-release .build-fuzz
summary=()
failed=0

record() {  # name, seconds, status
  summary+=("$(printf '%-34s %4ss  %s' "$1" "$2" "$([ "$3" -eq 0 ] && echo ok || echo "FAILED (exit $3)")")")
  [ "$3" -eq 0 ] || failed=1
}

run() {  # name, command…
  local name=$1 start=$SECONDS status
  shift
  echo "== make test: $name"
  "$@"
  status=$?
  record "$name" $((SECONDS - start)) $status
  return 0
}

background() {  # name, key, log, command…: starts it niced; `finish NAME KEY LOG` waits and records it
  local name=$1 key=$2 log=$3
  shift 3
  echo "== make test: $name (background, niced, log in $log)"
  eval "start_$key=\$SECONDS"
  nice -n 15 "$@" >"$log" 2>&1 &
  eval "pid_$key=\$!"
}

finish() {  # name, key, log
  local name=$1 key=$2 log=$3 pid start status
  eval "pid=\$pid_$key start=\$start_$key"
  wait "$pid"
  status=$?
  [ $status -eq 0 ] || tail -n 60 "$log"
  record "$name" $((SECONDS - start)) $status
}

run "debug build" "$SWIFT" build --build-tests
background "release build" release .build-release/build.log "$SWIFT" build --build-tests "${release[@]}"
run "debug tests" "$SWIFT" test --skip-build --skip "$stress"
finish "release build (overlapped)" release .build-release/build.log
background "fuzz build + runs" fuzz .build-fuzz/make-test.log bash scripts/fuzz.sh
run "release tests" "$SWIFT" test --skip-build "${release[@]}" --skip "$stress"
finish "fuzz build + runs (overlapped)" fuzz .build-fuzz/make-test.log
grep '^fuzz: ' .build-fuzz/make-test.log
run "debug stress test" "$SWIFT" test --skip-build --filter "$stress"
run "release stress test" "$SWIFT" test --skip-build "${release[@]}" --filter "$stress"

echo "== make test summary (wall time per phase; overlapped phases ran during the phase before them)"
printf '  %s\n' "${summary[@]}"
echo "  total ${SECONDS}s"
exit $failed
