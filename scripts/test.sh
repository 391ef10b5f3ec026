#!/usr/bin/env bash
# `make test`: every suite against the debug build, then again against release-optimised executables (built with
# -enable-testing in .build-release: optimisation exposes undefined behaviour that debug builds hide), then a
# bounded run of every fuzz target, then the stress test alone against the release build (it brings its own CPU
# contention). The two builds run side by side (a release build compiles each module as one job, about one core);
# the test phases run one after another, since they contest the CPU, except the install phase
# (scripts/test-install.sh: make install, uninstall and make deb from the release build, the packages installed,
# used and purged) and after it the systemd phase (scripts/test-systemd.sh: both .debs in a container booting a real
# systemd, the units started, used and stopped there), which run beside the fuzz phase: they mostly wait on
# processes, and fuzzing is bounded by time. Every phase runs even when an earlier one failed; the exit status is
# non-zero if any failed, and the summary gives each phase's wall time.
set -uo pipefail
cd "$(dirname "$0")/.."

SWIFT=${SWIFT:-swift}
release=(-c release -Xswiftc -enable-testing --scratch-path .build-release)
stress=RewriteStressTests
mkdir -p .build-release
summary=()
failed=0

record() {  # name, seconds, status
  summary+=("$(printf '%-40s %4ss  %s' "$1" "$2" "$([ "$3" -eq 0 ] && echo ok || echo "FAILED (exit $3)")")")
  [ "$3" -eq 0 ] || failed=1
}

run() {  # name, command…
  local name=$1 start=$SECONDS status
  shift
  echo "== make test: $name"
  "$@"
  status=$?
  record "$name" $((SECONDS - start)) $status
}

run "resolve packages" "$SWIFT" package resolve
echo "== make test: release build and distribution build (side by side with the debug build, logs in .build-release/build.log, .build-dist/build.log)"
start=$SECONDS
"$SWIFT" build --build-tests "${release[@]}" >.build-release/build.log 2>&1 &
release_build=$!
# The binaries make install ships (release, --static-swift-stdlib, no -enable-testing: what the install phase
# tests). Another module-at-a-time release build: it takes the core the release build leaves free.
mkdir -p .build-dist
( dist_start=$SECONDS; make -s dist SWIFT="$SWIFT" >.build-dist/build.log 2>&1; status=$?
  echo $((SECONDS - dist_start)) >.build-dist/build.seconds; exit $status ) &
dist_build=$!
mkdir -p .build
# The libraries are layers (Package.swift): a target importing a target it does not declare (FTPServerKit reaching
# for TunnelCore, say) fails the build instead of compiling because the module happens to be built already.
run "debug build" bash -c '"$1" build --build-tests --explicit-target-dependency-import-check error 2>&1 | tee .build/build.log
  exit "${PIPESTATUS[0]}"' _ "$SWIFT"
wait $release_build
status=$?
tail -n $([ $status -eq 0 ] && echo 3 || echo 80) .build-release/build.log
record "release build (side by side)" $((SECONDS - start)) $status

run "debug tests" "$SWIFT" test --skip-build --skip "$stress"
run "release tests" "$SWIFT" test --skip-build "${release[@]}" --skip "$stress"
wait $dist_build
status=$?
tail -n $([ $status -eq 0 ] && echo 3 || echo 80) .build-dist/build.log
record "distribution build (side by side)" "$(cat .build-dist/build.seconds 2>/dev/null || echo "?")" $status
# Zero compiler warnings in our sources in all three configurations (CI builds from scratch, so every file is
# compiled and every warning is in these logs; a local incremental build shows only the files it recompiled). The
# linker's notes about the static Swift runtime (Foundation's mktemp) are not ours and do not count.
run "no compiler warnings (debug, release, distribution)" bash -c \
  '! grep -hE "^$PWD/[^ :]+:[0-9]+:[0-9]+: warning:" .build/build.log .build-release/build.log .build-dist/build.log | sort -u | grep .'
# Every system call goes through the Posix target: a raw close(2), fcntl(2), errno … anywhere else in Sources fails
# here with its file:line and the Posix type to use (scripts/check-syscalls.sh reads the debug build's objects).
run "no raw libc calls outside Posix (debug)" bash scripts/check-syscalls.sh .build/debug
# pasvd needs no libcrypto (only ftptunnel's TunnelCore and SSHKeys link it): a library it links that pulls it in
# again (a dependency on TunnelCore, say) would put libssl3 back into its package.
run "pasvd links no libcrypto (debug, release, distribution)" bash -c '
  for binary in .build/debug/pasvd .build-release/release/pasvd .build-dist/release/pasvd; do
    [ -x "$binary" ] || { echo "$binary is missing: its build failed (see above)"; exit 1; }
    if ldd "$binary" | grep libcrypto; then
      echo "$binary links libcrypto: pasvd must depend only on Posix, FTPCore, FTPServerKit, PasvdHandOff and ProgramSupport (Package.swift)"
      exit 1
    fi
  done'
echo "== make test: install, uninstall, .debs, then the units under systemd (side by side with fuzz," \
  "logs in .build-dist/install.log, .build-dist/systemd.log)"
start=$SECONDS
rm -f .build-dist/install.status .build-dist/systemd.status .build-dist/install.log.seconds .build-dist/systemd.log.seconds
# One after the other (the systemd phase installs the .debs the install phase made), each timing itself.
timed() {  # log, command…: runs the command with its output in log; writes log.seconds; exits with its status
  local log=$1 began=$SECONDS status; shift
  "$@" >"$log" 2>&1; status=$?
  echo $((SECONDS - began)) >"$log.seconds"
  return $status
}
if [ $status -eq 0 ]; then
  ( timed .build-dist/install.log bash scripts/test-install.sh; echo $? >.build-dist/install.status
    timed .build-dist/systemd.log bash scripts/test-systemd.sh; echo $? >.build-dist/systemd.status ) &
else
  ( echo 1 >.build-dist/install.status; echo 1 >.build-dist/systemd.status ) &
fi
install_phase=$!
run "fuzz build + 30 s per target" bash scripts/fuzz.sh
wait $install_phase
status=$(cat .build-dist/install.status 2>/dev/null || echo 1)
tail -n $([ "$status" -eq 0 ] && echo 40 || echo 120) .build-dist/install.log
record "install + .debs (side by side with fuzz)" "$(cat .build-dist/install.log.seconds 2>/dev/null || echo "?")" "$status"
status=$(cat .build-dist/systemd.status 2>/dev/null || echo 1)
tail -n $([ "$status" -eq 0 ] && echo 12 || echo 120) .build-dist/systemd.log
record "units under systemd (after install)" "$(cat .build-dist/systemd.log.seconds 2>/dev/null || echo "?")" "$status"
record "install + systemd beside fuzz (wall)" $((SECONDS - start)) 0
run "release stress test" "$SWIFT" test --skip-build "${release[@]}" --filter "$stress"

echo "== make test summary (wall time per phase)"
printf '  %s\n' "${summary[@]}"
echo "  total ${SECONDS}s"
exit $failed
