#!/usr/bin/env bash
# node_test.sh - install the Node clients of package-lock.json into a build
# directory (never into the source tree) and run run.js against a server.
#
#   node_test.sh INSTALL_DIR SERVER_BINARY|HOST:PORT
#
# INSTALL_DIR gets copies of package.json and package-lock.json and
# `npm ci` installs them there (from the npm registry); it is skipped while
# the lock file is unchanged since the last install that succeeded. The rest
# of the arguments go to run.js (see there).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$1
shift
command -v node >/dev/null || { echo "node is not installed (scripts/deps.sh test)" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm is not installed (scripts/deps.sh test)" >&2; exit 1; }
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
if ! cmp -s "$here/package-lock.json" "$dir/.installed-lock" || [[ ! -d "$dir/node_modules" ]]; then
    cp "$here/package.json" "$here/package-lock.json" "$dir/"
    rm -f "$dir/.installed-lock"
    # ioredis 6 and node-redis 6 declare node >= 20; they pass these tests
    # on Debian 12's node 18 too, so an engine mismatch is only a warning.
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    cp "$here/package-lock.json" "$dir/.installed-lock"
fi
echo "node $(node --version), npm $(npm --version)"
EBB_NODE_MODULES="$dir/node_modules" exec node "$here/run.js" "$@"
