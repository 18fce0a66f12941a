#!/usr/bin/env bash
# Structure checks that the compiler cannot make, run first by scripts/test.sh:
#   - only the daemon layer (server/daemon/) includes libevent (event2/);
#   - the modules' includes form no cycle: module X (X.c and X.h) depends on
#     Y when either includes Y.h, and those dependencies must be a DAG
#     (tsort finds any loop).
# Exits non-zero with what is wrong.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0

if hits=$(grep -rln --include='*.[ch]' '#[[:space:]]*include[[:space:]]*[<"]event2/' \
    protocol server | grep -v '^server/daemon/'); then
  echo "lint: event2/ included outside server/daemon/:"
  echo "$hits"
  bad=1
fi

edges=$(for f in $(find protocol server -name '*.[ch]' -not -path '*/tests/*' -not -path '*/fuzz/*'); do
  from=$(basename "${f%.*}")
  sed -n 's/^#[[:space:]]*include[[:space:]]*"\([^"]*\)\.h".*/\1/p' "$f" | while read -r to; do
    [[ $to != "$from" ]] && echo "$from $to"
  done
done | sort -u)
if ! out=$(tsort <<<"$edges" 2>&1 >/dev/null) || [[ -n $out ]]; then
  echo "lint: the modules' includes form a cycle:"
  echo "$out"
  bad=1
fi

((bad == 0)) && echo "lint: layers and include graph OK"
exit "$bad"
