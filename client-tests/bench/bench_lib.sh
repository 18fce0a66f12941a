# bench_lib.sh - what the benchmark scripts share. Sourced; expects $repo,
# $here, $work and a die function.

# Set $ebb: with $build set, configure and build build/release's ebb-server
# (Release, no tests, no checks) first; without --ebb, use that binary.
bench_ebb() {
    if ((build)); then
        cmake -S "$repo" -B "$repo/build/release" -DCMAKE_BUILD_TYPE=Release -DEBB_TESTS=OFF \
            -DEBB_CHECKS=OFF >&2 && cmake --build "$repo/build/release" --target ebb-server >&2 ||
            die "build failed"
    fi
    if [[ -z $ebb ]]; then
        ebb=$repo/build/release/server/ebb-server
        [[ -x $ebb ]] || die "no $ebb; build it (or pass --build): cmake -S $repo" \
            "-B $repo/build/release -DCMAKE_BUILD_TYPE=Release -DEBB_TESTS=OFF -DEBB_CHECKS=OFF &&" \
            "cmake --build $repo/build/release --target ebb-server"
    fi
    [[ -x $ebb ]] || die "not executable: $ebb"
}

# Set $loadgen: without --loadgen, compile loadgen.c into $work.
bench_loadgen() {
    if [[ -z $loadgen ]]; then
        loadgen=$work/ebb-loadgen
        ${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -o "$loadgen" "$here/loadgen.c" ||
            die "cannot compile loadgen.c"
    fi
    [[ -x $loadgen ]] || die "not executable: $loadgen"
}
