#!/usr/bin/env bash
# Install what ebb needs from Debian/Ubuntu packages, only what is missing.
#   scripts/deps.sh run    build and run the server
#   scripts/deps.sh test   also the unit/integration tests, tools and fuzzer (and
#                          redis-server, the peer of integration.differential;
#                          python3-redis, nodejs and npm for the client tests)
#   scripts/deps.sh bench  also the peers the benchmarks compare against
#   scripts/deps.sh docker a container engine and debootstrap (docker/test)
set -euo pipefail

want=(build-essential cmake pkg-config libevent-dev liblua5.1-0-dev lua-cjson-dev lua-bitop-dev)
case "${1:-run}" in
  run) ;;
  test) want+=(libhiredis-dev libcriterion-dev redis-tools clang libclang-rt-14-dev procps valgrind tmux python3 nutcracker curl python3-prometheus-client redis-server clang-format-14 git python3-redis nodejs)
        # tools.node-clients runs `npm ci`. Debian's npm package depends on
        # Debian's nodejs; a nodejs from NodeSource bundles npm and conflicts
        # with it, so ask for npm only when no npm is on the PATH.
        command -v npm >/dev/null || want+=(npm) ;;
  bench) want+=(libhiredis-dev libcriterion-dev redis-tools clang redis-server memcached gnuplot-nox procps) ;;
  docker) want+=(docker.io debootstrap redis-tools curl python3-yaml) ;;
  *) echo "usage: $0 run|test|bench|docker" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "Installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
