#!/usr/bin/env bash
# Install what is missing, build, and run every test:
#   1. unit (Criterion) and integration (hiredis, redis-cli, redis-benchmark)
#      tests on a warnings-as-errors build with invariant checks on;
#   2. the same suite under AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the RESP reader fuzzer for EBB_FUZZ_SECONDS (default 30).
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc)
fuzz_seconds=${EBB_FUZZ_SECONDS:-30}

step() { printf '\n==== %s\n' "$*"; }

step "build (warnings are errors, checks on)"
cmake -S . -B build/test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEBB_WERROR=ON >/dev/null
cmake --build build/test -j"$jobs"

step "unit + integration tests"
ctest --test-dir build/test --output-on-failure -j"$jobs"

step "build with AddressSanitizer + UndefinedBehaviorSanitizer"
CC=clang cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DEBB_WERROR=ON -DEBB_SANITIZE=ON >/dev/null
cmake --build build/asan -j"$jobs"

step "unit + integration tests under sanitizers"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  EBB_SANITIZED=1 ctest --test-dir build/asan --output-on-failure -j"$jobs"

step "fuzz the RESP reader for ${fuzz_seconds}s"
CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEBB_FUZZ=ON -DEBB_TESTS=OFF >/dev/null
cmake --build build/fuzz -j"$jobs" --target fuzz_resp_read
mkdir -p build/fuzz/corpus
cp protocol/fuzz/corpus/* build/fuzz/corpus/
build/fuzz/protocol/fuzz_resp_read -max_total_time="$fuzz_seconds" -dict=protocol/fuzz/resp.dict \
  -print_final_stats=1 build/fuzz/corpus 2>&1 | tail -n 12

step "all tests passed"
