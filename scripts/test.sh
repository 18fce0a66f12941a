#!/usr/bin/env bash
# Install what is missing, build, and run every test:
#   0. the structure checks of scripts/lint.sh;
#   1. unit (Criterion) and integration (hiredis, redis-cli, redis-benchmark)
#      tests on a warnings-as-errors build with invariant checks on;
#   2. the same suite under AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. the RESP reader fuzzer for EBB_FUZZ_SECONDS (default 30);
#   4. the container image, built and run (docker/test).
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc)
fuzz_seconds=${EBB_FUZZ_SECONDS:-30}

t_start=$SECONDS
# Each step with the minutes and seconds since the start: where the time goes.
step() { printf '\n==== [%d:%02d] %s\n' $(((SECONDS - t_start) / 60)) $(((SECONDS - t_start) % 60)) "$*"; }

# What differs between machines of one kind, for reading a failure.
thp=$(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo unknown)
echo "machine: Linux $(uname -r), $(nproc) CPUs, THP $thp, /sys/fs/cgroup $(stat -fc %T /sys/fs/cgroup 2>/dev/null || echo absent)"

step "structure: layers and include graph (scripts/lint.sh)"
scripts/lint.sh

step "build (warnings are errors, checks on)"
cmake -S . -B build/test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEBB_WERROR=ON >/dev/null
cmake --build build/test -j"$jobs"

passed=0
# Run ctest, show its output, and add its test count to the total.
run_ctest() {
  local dir=$1 out
  out=$(mktemp)
  if ! ctest --test-dir "$dir" --output-on-failure -j"$jobs" 2>&1 | tee "$out"; then
    rm -f "$out"
    echo "0 passed, 1 failed"
    exit 1
  fi
  passed=$((passed + $(sed -n 's/.*tests passed, 0 tests failed out of \([0-9]*\).*/\1/p' "$out")))
  rm -f "$out"
}

step "unit + integration tests"
run_ctest build/test

# The container image's base (debootstrap) and build take about 1.5 min of
# mostly waiting on the mirror and the disk: done meanwhile, in the
# background, during the sanitizer pass (whose tests allow for a loaded
# machine); the container step at the end then finds them cached.
docker/test --build-only >build/docker-build.log 2>&1 &
docker_build_pid=$!

step "build with AddressSanitizer + UndefinedBehaviorSanitizer"
CC=clang cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DEBB_WERROR=ON -DEBB_SANITIZE=ON >/dev/null
cmake --build build/asan -j"$jobs"

step "unit + integration tests under sanitizers"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export EBB_SANITIZED=1
run_ctest build/asan
unset ASAN_OPTIONS UBSAN_OPTIONS EBB_SANITIZED

step "unit tests under valgrind (memory errors and leaks)"
# The normal build's unit tests, each test in its own process (Criterion
# forks), traced by valgrind: what it adds to ASan is reads of memory never
# written. Each test process costs about a second of valgrind's start, so
# for time the table's expiry suite stands for the table (its long
# randomized and 1M-key tests run under ASan above), and the command
# layer's dispatcher, transactions, Lua, pub/sub and config suites for the
# command layer (its other suites run under ASan and in the normal build).
# (valgrind computes long double arithmetic in 64-bit precision, not the
# x87's 80 bits, so INCRBYFLOAT's number tests, numfmt and
# bitmap/incrbyfloat, must stay out of this pass: they would see other
# digits here.)
vg=(valgrind --quiet --trace-children=yes --leak-check=full --errors-for-leak-kinds=definite
    --error-exitcode=9)
for t in "protocol/test_resp" "server/test_db" \
  "server/test_core --filter @(cmd|multi|lua|eval|pubsub|config)/*" \
  "server/test_table --filter texp/*"; do
  # shellcheck disable=SC2086
  # -j4 on 2 cores: a test process under valgrind spends part of its start
  # waiting, not computing (the command layer's subset: 82 s at -j2, 69 s
  # at -j4).
  if ! "${vg[@]}" build/test/$t -j4 >build/test/valgrind.log 2>&1; then
    tail -n 40 build/test/valgrind.log
    echo "$passed passed, 1 failed"
    exit 1
  fi
  tail -n 1 build/test/valgrind.log
  passed=$((passed + 1))
done

step "fuzz the RESP reader for ${fuzz_seconds}s"
CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEBB_FUZZ=ON -DEBB_TESTS=OFF >/dev/null
cmake --build build/fuzz -j"$jobs" --target fuzz_resp_read
mkdir -p build/fuzz/corpus
cp protocol/fuzz/corpus/* build/fuzz/corpus/
# The first directory is where libFuzzer writes new inputs: a scratch copy,
# so the checked-in seed corpus stays small.
if ! build/fuzz/protocol/fuzz_resp_read -max_total_time="$fuzz_seconds" \
    -dict=protocol/fuzz/resp.dict -print_final_stats=1 build/fuzz/corpus >build/fuzz/log 2>&1; then
  tail -n 40 build/fuzz/log
  echo "$passed passed, 1 failed"
  exit 1
fi
grep -E '^(Done|stat::number_of_executed_units)' build/fuzz/log
passed=$((passed + 1))

step "container image: build, run, probe, stop (docker/test)"
if ! wait "$docker_build_pid"; then
  tail -n 60 build/docker-build.log
  echo "$passed passed, 1 failed"
  exit 1
fi
grep -E '^====' build/docker-build.log | sed 's/^/build-only: /'
if ! docker/test >build/docker-test.log 2>&1; then
  tail -n 60 build/docker-test.log
  echo "$passed passed, 1 failed"
  exit 1
fi
grep -E '^(====|PASS)' build/docker-test.log
passed=$((passed + 1))

step "summary (ctest runs + fuzzer + container)"
echo "all steps took $((SECONDS - t_start)) s"
echo "$passed passed, 0 failed"
