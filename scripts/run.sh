#!/usr/bin/env bash
# Install what is missing, build ebb-server (optimised) and run it in the
# foreground on 127.0.0.1:6379. Extra arguments go to ebb-server, e.g.
#   scripts/run.sh --port 7000 --loglevel verbose
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh run
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DEBB_TESTS=OFF -DEBB_CHECKS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target ebb-server >/dev/null
exec build/release/server/ebb-server "$@"
