#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/) with coverage instrumentation and AddressSanitizer in .build-fuzz and runs
# each for FUZZ_SECONDS (default 30), starting from the committed seed corpus. A crash or a violated invariant
# stops that target, leaves its input in .build-fuzz/artifacts/TARGET/ and makes this script exit non-zero.
#   FUZZ_SECONDS=600 make fuzz          longer runs (new inputs found go to .build-fuzz/corpus/TARGET/)
#   FUZZ_TARGETS=fuzz-ftp-parsers ...   one target only
set -euo pipefail
cd "$(dirname "$0")/.."

SWIFT=${SWIFT:-swift}
seconds=${FUZZ_SECONDS:-30}
targets=${FUZZ_TARGETS:-"fuzz-control-stream-filter fuzz-ftp-parsers fuzz-pasvd-handoff fuzz-known-hosts"}
scratch=.build-fuzz
runtime=$(dirname "$(dirname "$(readlink -f "$(command -v "$SWIFT")")")")/lib/clang
fuzzer_lib=$(ls "$runtime"/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a 2>/dev/null | head -n1)
[ -n "$fuzzer_lib" ] || { echo "fuzz: libclang_rt.fuzzer_no_main not found under $runtime" >&2; exit 1; }

# -sanitize=fuzzer would link libFuzzer's own main, which clashes with SwiftPM's entry point for executables;
# the same coverage flags plus libFuzzer without main, entered through LLVMFuzzerRunDriver (FuzzMain.swift).
flags=(-c release --scratch-path "$scratch"
       -Xswiftc -DFUZZING -Xswiftc -sanitize=address
       -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table
       -Xlinker "$fuzzer_lib" -Xlinker -lstdc++)
for target in $targets; do
  "$SWIFT" build "${flags[@]}" --product "$target"
done

# One core per target: they run side by side.
fuzz_one() {
  local target=$1 seeds=Fuzz/corpus/$1 corpus=$scratch/corpus/$1 artifacts=$scratch/artifacts/$1
  mkdir -p "$corpus" "$artifacts"
  # Swift's backtracer and ASan both want the crash signal: let libFuzzer report it and save the input.
  if SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$scratch/release/$target" \
       -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
       -artifact_prefix="$artifacts/" "$corpus" "$seeds" 2>"$scratch/$target.log"; then
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+[[:space:]]+DONE)" "$scratch/$target.log" | sed "s/^/fuzz: $target: /"
  else
    echo "fuzz: $target FAILED; input saved in $artifacts/, log:" >&2
    grep -v -E "^#[0-9]+ +(NEW|REDUCE|pulse)" "$scratch/$target.log" | tail -n 60 >&2
    return 1
  fi
}

pids=()
for target in $targets; do
  echo "fuzz: $target for ${seconds}s (seeds: Fuzz/corpus/$target)"
  fuzz_one "$target" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
